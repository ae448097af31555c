// sbx: a thin shim over run(), which maps results to the documented exit codes.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command_table.h"
#include "cli/output.h"
#include "common/log.h"
#include "common/text.h"

namespace {
using sbx::cli::CommandSpec;

void print_overview() {
  std::cout << "sbx " SBX_VERSION " - declarative microVM sandboxes for AI coding agents\n\n"
               "USAGE\n    sbx COMMAND [OPTIONS] [ARGS]\n\nCOMMANDS\n";
  // Internal commands (sbx __supervise) stay unlisted; summaries line up after the longest name.
  auto listed = [](const CommandSpec* c) { return !c->name.starts_with("__"); };
  size_t width = 0;
  for (const CommandSpec* c : sbx::cli::command_table())
    if (listed(c)) width = std::max(width, c->name.size());
  for (const CommandSpec* c : sbx::cli::command_table())
    if (listed(c)) std::cout << "    " << c->name << std::string(width + 2 - c->name.size(), ' ') << c->summary << '\n';
  std::cout << "\nOPTIONS\n    -h, --help       Show this help (or a command's, after its name).\n"
               "    -V, --version    Print the version and exit.\n\n"
               "ENVIRONMENT\n    SBX_LOG          Log level on stderr: trace, debug, info, warn (default), error, off.\n"
               "    SBX_STATE_DIR, SBX_CACHE_DIR, SBX_DATA_DIR, SBX_CONFIG_DIR\n"
               "                     Override the XDG locations sbx uses.\n"
               "    SBX_SYSTEM_CONFIG_DIR  System policies and trusted keys (default /etc/sbx).\n"
               "    SBX_POLICY_PATH  More policy files or directories, ':'-separated.\n\n"
               "EXIT STATUS\n    0 success; 1 the operation failed or the input is invalid; 2 usage error.\n\n"
               "Run 'sbx COMMAND --help' for the manual of one command.\n";
}

// Longest match of the leading words against the table ("secret set" before "secret").
const CommandSpec* find_command(const std::vector<std::string>& words, size_t& consumed) {
  const CommandSpec* best = nullptr;
  consumed = 0;
  for (const CommandSpec* c : sbx::cli::command_table()) {
    const auto parts = sbx::text::split(c->name, ' ');
    if (parts.size() > words.size()) continue;
    if (!std::equal(parts.begin(), parts.end(), words.begin())) continue;
    if (parts.size() > consumed) {
      best = c;
      consumed = parts.size();
    }
  }
  return best;
}

bool wants_help(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--") return false;
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

int run(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0] == "help" || argv[0] == "--help" || argv[0] == "-h") {
    // "sbx help CMD" is "sbx CMD --help": the manual, or the unknown-command error (exit 2).
    if (argv.size() > 1 && argv[0] == "help") {
      std::vector<std::string> words(argv.begin() + 1, argv.end());
      words.emplace_back("--help");
      return run(words);
    }
    print_overview();
    return argv.empty() ? 2 : 0;
  }
  if (argv[0] == "--version" || argv[0] == "-V") {
    std::cout << "sbx " SBX_VERSION "\n";
    return 0;
  }
  size_t consumed = 0;
  const CommandSpec* cmd = find_command(argv, consumed);
  if (!cmd) {
    // A group word alone ("sbx secret") lists the commands under it.
    bool group = false;
    for (const CommandSpec* c : sbx::cli::command_table())
      if (c->name.starts_with(argv[0] + " ")) {
        if (!group) std::cerr << "sbx " << argv[0] << ": pick one of these commands:\n";
        group = true;
        std::cerr << "    sbx " << c->name << "  -  " << c->summary << '\n';
      }
    if (group) return 2;
    std::vector<std::string> names;
    for (const CommandSpec* c : sbx::cli::command_table()) names.emplace_back(sbx::text::split(c->name, ' ')[0]);
    const std::string guess = sbx::text::closest(argv[0], std::span<const std::string>(names));
    sbx::cli::Output().note("unknown command '" + argv[0] + "'",
                            guess.empty() ? "run 'sbx --help' for the list of commands" : "did you mean 'sbx " + guess + "'?");
    return 2;
  }
  const std::vector<std::string> rest(argv.begin() + static_cast<long>(consumed), argv.end());
  if (wants_help(rest)) {
    std::cout << sbx::cli::render_help(*cmd);
    return 0;
  }
  auto args = sbx::cli::parse_args(*cmd, rest);
  if (!args) return sbx::cli::Output().error(args.error());  // --json may not have parsed
  return cmd->run(*args);
}

}  // namespace

int main(int argc, char** argv) {
  sbx::log::init();
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return run(args);
  } catch (const std::exception& e) {
    // A broken invariant: say so plainly rather than abort with no message.
    sbx::cli::Output().note(std::string("internal error: ") + e.what(), "this is a bug in sbx; please report it");
    return 1;
  }
}
