// sbx validate [PATH]: load a Sandboxfile and report every problem in it, or that it is valid.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cmd_policy_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "config/canonical.h"
#include "config/loader.h"

namespace sbx::cli {

namespace {

int run_validate(const Args& args) {
  const std::string path = args.positionals.empty() ? "." : args.positionals.front();
  const Output out = Output::for_args(args);
  const bool json = out.json();
  auto file = config::load_file(path);
  // A file with problems prints each compiler-style; a missing file is one plain error.
  if (!file) return out.problems(file.error());
  if (auto checked = enforce_policies(*file, out); !checked) return out.problems(checked.error());
  if (json) {
    out.result({{"ok", true},
                {"file", file->file.string()},
                {"name", file->name},
                {"digest", config::digest(*file)}});
  } else {
    std::cout << file->file.string() << ": valid (sandbox '" << file->name << "')\n";
  }
  return 0;
}

}  // namespace

const CommandSpec kValidateCommand{
    .name = "validate",
    .summary = "Check a Sandboxfile and report every problem in it",
    .usage = "sbx validate [OPTIONS] [PATH]",
    .description =
        "Loads the Sandboxfile at PATH (a file, or a directory holding a file named Sandboxfile;\n"
        "default: the current directory) exactly as 'sbx up' would, and reports every problem in one\n"
        "run: unknown keys and tables (with a suggestion), wrong types, invalid sizes, paths, egress\n"
        "rules (RE2 patterns are compiled), secrets and mounts. Each problem is printed on stderr as\n"
        "FILE:LINE:COL, the offending line with a caret under the column, and a hint.\n"
        "\n"
        "It is then checked against the active policies ('sbx policy ls'): a rule of an enforcing\n"
        "policy it breaks makes it invalid, a warning policy's is printed (see 'sbx policy check').\n"
        "\n"
        "Nothing is started; the only file system paths looked at are the mount sources, resolved\n"
        "(symlinks, '..') for the policies' mount rules.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  the Sandboxfile is valid\n"
        "    1  it is invalid, or it cannot be read\n"
        "    2  usage error\n"
        "\n"
        "OUTPUT\n"
        "    Without --json: on success one line on stdout; on failure the diagnostics on stderr,\n"
        "    then a line 'FILE: N errors'.\n"
        "    With --json: one JSON object on stdout, {\"ok\":true,\"file\",\"name\",\"digest\"} or\n"
        "    {\"ok\":false,\"error\":{message,location,hint,details:[{message,location,hint}]}}.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx validate                      # ./Sandboxfile\n"
        "    sbx validate examples/hello\n"
        "    sbx validate --json path/to/Sandboxfile\n",
    .options = {{.long_name = "json", .help = "Print the result as one JSON object on stdout."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_validate,
};

}  // namespace sbx::cli
