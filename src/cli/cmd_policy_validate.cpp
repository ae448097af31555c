// sbx policy validate FILE...: check policy files and report every problem in them.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "policy/loader.h"

namespace sbx::cli {
namespace {

int run_policy_validate(const Args& args) {
  const Output out = Output::for_args(args);
  nlohmann::json files = nlohmann::json::array();
  int code = 0;
  for (const std::string& path : args.positionals) {
    auto p = policy::load_policy_file(path, policy::Origin::env);
    if (!p) {
      if (out.json()) files.push_back({{"file", path}, {"ok", false}, {"error", error_json(p.error())["error"]}});
      else out.problems(p.error());
      code = 1;
      continue;
    }
    if (out.json()) files.push_back({{"file", path}, {"ok", true}, {"name", p->name}});
    else std::cout << path << ": valid policy '" << p->name << "' (" << policy::to_string(p->enforcement) << ")\n";
  }
  if (out.json()) out.result({{"ok", code == 0}, {"files", files}});
  return code;
}

}  // namespace

const CommandSpec kPolicyValidateCommand{
    .name = "policy validate",
    .summary = "Check policy files and report every problem in them",
    .usage = "sbx policy validate [OPTIONS] FILE...",
    .description =
        "Loads each policy FILE as sbx would and reports every problem in one run: unknown keys and\n"
        "tables (with a suggestion), wrong types, invalid paths, patterns, sizes and egress rules.\n"
        "Each is printed on stderr as FILE:LINE:COL, the line with a caret, and a hint. The format is\n"
        "in sandboxfile-spec/POLICY.md.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  every FILE is valid\n"
        "    1  one is invalid or cannot be read\n"
        "    2  usage error\n",
    .options = {{.long_name = "json", .help = "Print the result as one JSON object on stdout."}},
    .min_positionals = 1,
    .max_positionals = kUnlimited,
    .run = run_policy_validate,
};

}  // namespace sbx::cli
