// sbx shell [--name N]: an interactive shell inside a running sandbox.
#include <iostream>
#include <unistd.h>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "supervisor/client.h"

namespace sbx::cli {
namespace {

int run_shell(const Args& args) {
  const Output out = Output::for_args(args);
  auto target = resolve_sandbox(args, false);
  if (!target) return out.error(target.error());
  auto open = default_open(*target, args, guest::protocol::OpenKind::shell);
  open.tty = true;
  open.argv = args.command;  // empty: the user's login shell
  if (!::isatty(0)) out.warn("stdin is not a terminal; the shell still gets a PTY");
  return run_in_sandbox(*target, open);
}

}  // namespace

const CommandSpec kShellCommand{
    .name = "shell",
    .summary = "Open an interactive shell inside a running sandbox",
    .usage = "sbx shell [OPTIONS] [-- CMD ARGS...]",
    .description =
        "Opens a login shell (or CMD) on a pseudo-terminal inside the sandbox of the Sandboxfile in the\n"
        "current directory (or --name). The local terminal is put in raw mode: every key, Ctrl-C\n"
        "included, goes to the program in the guest, and window size changes follow the local\n"
        "terminal. Leave with 'exit' or Ctrl-D.\n"
        "\n"
        "EXIT STATUS\n"
        "    The shell's exit status; 255 when the sandbox is not running or failed; 2 usage error.\n",
    .options = {{"name", 'n', "NAME", "The sandbox to use."},
                {"user", 'u', "USER", "Log in as USER inside the guest (default: the agent user)."}},
    .min_positionals = 0,
    .max_positionals = 0,
    .takes_command = true,
    .run = run_shell,
};

}  // namespace sbx::cli
