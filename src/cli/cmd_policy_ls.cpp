// sbx policy ls: the active policies, where each came from, and who signed it.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "policy/discovery.h"

namespace sbx::cli {
namespace {

int run_policy_ls(const Args& args) {
  const Output out = Output::for_args(args);
  auto policies = policy::discover_policies();
  if (!policies) return out.error(policies.error());
  if (out.json()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& p : *policies)
      list.push_back({{"name", p.name},
                      {"origin", policy::to_string(p.origin)},
                      {"file", p.file.empty() ? p.display : p.file.string()},
                      {"enforcement", policy::to_string(p.enforcement)},
                      {"signed_by", p.signer},
                      {"description", p.description}});
    out.result({{"ok", true},
                {"policies", list},
                {"system_dir", policy::system_policy_dir().string()},
                {"user_dir", policy::user_policy_dir().string()},
                {"trusted_keys_dir", policy::trusted_keys_dir().string()}});
    return 0;
  }
  for (const auto& p : *policies) {
    std::cout << p.name << "  " << policy::to_string(p.enforcement) << "  " << policy::to_string(p.origin) << "  "
              << (p.file.empty() ? p.display : p.file.string()) << "  "
              << (p.signer.empty() ? (p.origin == policy::Origin::baseline ? "built in" : "unsigned") : "signed by " + p.signer) << "\n";
    if (!p.description.empty()) std::cout << "    " << p.description << "\n";
  }
  return 0;
}

}  // namespace

const CommandSpec kPolicyLsCommand{
    .name = "policy ls",
    .summary = "List the active policies, where they came from and who signed them",
    .usage = "sbx policy ls [OPTIONS]",
    .description =
        "Lists every policy that applies to the sandboxes of this user, in the order they are read:\n"
        "    system  $SBX_SYSTEM_CONFIG_DIR/policies.d/*.toml (default /etc/sbx/policies.d)\n"
        "    user    $SBX_CONFIG_DIR/policies.d/*.toml (default ~/.config/sbx/policies.d)\n"
        "    SBX_POLICY_PATH  files or directories separated by ':'\n"
        "All apply together; when there is none, the built-in baseline (policies/baseline.toml) does.\n"
        "When $SBX_SYSTEM_CONFIG_DIR/trusted-keys.d holds public keys, every system policy must be\n"
        "signed by one of them (FILE.sig): otherwise this command, 'sbx up' and 'sbx validate' fail\n"
        "and say which file and why.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  listed\n"
        "    1  a policy cannot be read, parsed or trusted\n"
        "    2  usage error\n"
        "\n"
        "OUTPUT\n"
        "    One line per policy: name, enforcement, origin, file, signer. --json: {\"ok\", \"policies\":\n"
        "    [{name, origin, file, enforcement, signed_by, description}], system_dir, user_dir,\n"
        "    trusted_keys_dir}.\n",
    .options = {{.long_name = "json", .help = "Print the result as one JSON object on stdout."}},
    .min_positionals = 0,
    .max_positionals = 0,
    .run = run_policy_ls,
};

}  // namespace sbx::cli
