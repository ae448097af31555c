// sbx policy keygen [PREFIX]: a new Ed25519 key pair for signing policies.
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/atomic_file.h"
#include "policy/signature.h"

namespace sbx::cli {
namespace {
namespace fs = std::filesystem;

int run_policy_keygen(const Args& args) {
  const Output out = Output::for_args(args);
  const std::string prefix = args.positionals.empty() ? "sbx-policy" : args.positionals.front();
  const fs::path pub = prefix + ".pub", key = prefix + ".key";
  std::error_code ec;
  for (const fs::path& p : {pub, key})
    if (fs::exists(fs::symlink_status(p, ec)))
      return out.error(make_error(ErrorCode::conflict, p.string() + " already exists", "choose another PREFIX, or remove the old key pair"));
  auto k = policy::generate_key();
  if (!k) return out.error(k.error());
  if (auto r = write_file_atomic(key, k->secret_text, {.mode = 0600}); !r) return out.error(r.error());
  if (auto r = write_file_atomic(pub, k->public_text, {.mode = 0644}); !r) return out.error(r.error());
  if (out.json()) {
    out.result({{"ok", true}, {"key_id", k->id}, {"public_key", pub.string()}, {"secret_key", key.string()}});
  } else {
    std::cout << "key " << k->id << ": public " << pub.string() << ", secret " << key.string() << " (mode 0600)\n";
    out.note("install " + pub.string() + " in the trusted keys directory ($SBX_SYSTEM_CONFIG_DIR/trusted-keys.d, "
             "default /etc/sbx/trusted-keys.d) and keep " + key.string() + " off the machines it protects");
  }
  return 0;
}

}  // namespace

const CommandSpec kPolicyKeygenCommand{
    .name = "policy keygen",
    .summary = "Make an Ed25519 key pair for signing policies",
    .usage = "sbx policy keygen [OPTIONS] [PREFIX]",
    .description =
        "Writes PREFIX.pub (the public key, to install in /etc/sbx/trusted-keys.d) and PREFIX.key (the\n"
        "secret key, mode 0600, for 'sbx policy sign'); PREFIX defaults to ./sbx-policy. Refuses to\n"
        "overwrite either file.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  written\n"
        "    1  a file exists or cannot be written\n"
        "    2  usage error\n",
    .options = {{.long_name = "json", .help = "Print the result as one JSON object on stdout."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_policy_keygen,
};

}  // namespace sbx::cli
