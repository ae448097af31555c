// sbx policy sign FILE --key KEY: write FILE.sig, a detached Ed25519 signature of FILE.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/atomic_file.h"
#include "policy/loader.h"
#include "policy/signature.h"

namespace sbx::cli {
namespace {

int run_policy_sign(const Args& args) {
  const Output out = Output::for_args(args);
  const std::string file = args.positionals.front();
  const auto key_path = args.value("key");
  if (!key_path) return out.error(make_error(ErrorCode::usage, "--key is required", "e.g. sbx policy sign " + file + " --key sbx-policy.key"));
  // A policy that does not load is never signed: a signature vouches for a policy sbx can apply.
  auto text = policy::read_policy_text(file);
  if (!text) return out.error(text.error());
  if (auto p = policy::load_policy_string(*text, file, policy::Origin::system); !p) return out.problems(p.error());
  auto key = policy::read_policy_text(*key_path);
  if (!key) return out.error(key.error());
  auto sig = policy::sign_policy(*text, *key);
  if (!sig) return out.error(sig.error());
  const auto sig_path = policy::signature_path(file);
  if (auto r = write_file_atomic(sig_path, *sig, {.mode = 0644}); !r) return out.error(r.error());
  if (out.json()) out.result({{"ok", true}, {"file", file}, {"signature", sig_path.string()}});
  else std::cout << sig_path.string() << ": signed " << file << "\n";
  return 0;
}

}  // namespace

const CommandSpec kPolicySignCommand{
    .name = "policy sign",
    .summary = "Sign a policy file (Ed25519, detached FILE.sig)",
    .usage = "sbx policy sign [OPTIONS] FILE --key KEY",
    .description =
        "Checks that FILE is a valid policy, then writes FILE.sig: a detached Ed25519 signature of its\n"
        "exact bytes made with the secret key KEY (from 'sbx policy keygen'). Any later change to FILE,\n"
        "even a comment, makes the signature invalid.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  signed\n"
        "    1  FILE is not a valid policy, or KEY is not a policy secret key\n"
        "    2  usage error\n",
    .options = {{"key", 0, "KEY", "The secret key file (PREFIX.key from 'sbx policy keygen')."},
                {.long_name = "json", .help = "Print the result as one JSON object on stdout."}},
    .min_positionals = 1,
    .max_positionals = 1,
    .run = run_policy_sign,
};

}  // namespace sbx::cli
