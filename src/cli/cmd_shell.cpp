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
  auto target = resolve_sandbox(args, false);
  if (!target) return report(target.error());
  guest::protocol::Open open;
  open.kind = guest::protocol::OpenKind::shell;
  open.tty = true;
  open.argv = args.command;  // empty: the user's login shell
  if (auto u = args.value("user")) open.user = *u;
  else if (target->file && !target->file->agent.user.empty()) open.user = target->file->agent.user;
  if (target->file) {
    open.env = target->file->agent.env;
    if (!target->file->agent.workdir.empty()) open.cwd = target->file->agent.workdir;
  }
  if (!::isatty(0)) std::cerr << "sbx: warning: stdin is not a terminal; the shell still gets a PTY\n";
  auto client = supervisor::Client::connect(target->paths);
  if (!client) {
    report(client.error());
    return supervisor::kSandboxFailedExit;
  }
  auto code = client->run(open);
  if (!code) {
    report(code.error());
    return supervisor::kSandboxFailedExit;
  }
  return *code;
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
