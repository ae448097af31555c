// sbx policy check [PATH]: every violation of the active policies by a Sandboxfile.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "config/loader.h"
#include "policy/discovery.h"
#include "policy/explain.h"

namespace sbx::cli {
namespace {

int run_policy_check(const Args& args) {
  const Output out = Output::for_args(args);
  auto file = config::load_file(args.positionals.empty() ? "." : args.positionals.front());
  if (!file) return out.problems(file.error());
  auto policies = policy::discover_policies();
  if (!policies) return out.error(policies.error());
  const policy::Report report = policy::check(*file, *policies);
  if (out.json()) {
    nlohmann::json j = policy::report_json(report);
    j["file"] = file->file.string();
    out.result(j);
  } else {
    const std::string shown = file->agent.location.file.empty() ? file->file.string() : file->agent.location.file;
    std::cout << policy::render_report(report, shown);
  }
  return report.blocked() ? 1 : 0;
}

}  // namespace

const CommandSpec kPolicyCheckCommand{
    .name = "policy check",
    .summary = "List every way a Sandboxfile breaks the active policies",
    .usage = "sbx policy check [OPTIONS] [PATH]",
    .description =
        "Loads the Sandboxfile at PATH (default: the current directory) and checks it against every\n"
        "active policy ('sbx policy ls'). Each violation names the Sandboxfile FILE:LINE it hits, the\n"
        "policy FILE:LINE:COL of the rule it breaks, whether that policy enforces or warns, and the\n"
        "fix. Mount sources are resolved (symlinks, '..') before they are compared with a policy's\n"
        "paths. The rules are in sandboxfile-spec/POLICY.md.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  no enforced rule is broken (warnings may be listed)\n"
        "    1  an enforced rule is broken, or the Sandboxfile or a policy cannot be read or trusted\n"
        "    2  usage error\n"
        "\n"
        "OUTPUT\n"
        "    The violations on stdout, then one summary line. --json: {\"ok\", \"file\", \"violations\":\n"
        "    [{message, fix, key, policy, enforcement, sandboxfile, policy_rule}]}.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx policy check\n"
        "    SBX_POLICY_PATH=policies/examples/strict-org.toml sbx policy check examples/hello\n",
    .options = {{.long_name = "json", .help = "Print the result as one JSON object on stdout."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_policy_check,
};

}  // namespace sbx::cli
