// sbx exec [--name N] -- CMD ARGS...: run a command in a running sandbox.
#include <iostream>
#include <unistd.h>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "supervisor/client.h"

namespace sbx::cli {
namespace {
using namespace std::chrono;

int run_exec(const Args& args) {
  const Output out = Output::for_args(args);
  if (args.command.empty())
    return out.error(make_error(ErrorCode::usage, "no command given", "write it after '--': sbx exec -- ls -l"));
  auto target = resolve_sandbox(args, false);
  if (!target) return out.error(target.error());
  auto open = default_open(*target, args, guest::protocol::OpenKind::exec);
  open.argv = args.command;
  open.tty = args.flag("tty");
  for (const auto& kv : args.all("env")) {
    const auto eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos)
      return out.error(make_error(ErrorCode::usage, "--env takes NAME=VALUE, got '" + kv + "'"));
    open.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return run_in_sandbox(*target, open);
}

}  // namespace

const CommandSpec kExecCommand{
    .name = "exec",
    .summary = "Run a command inside a running sandbox",
    .usage = "sbx exec [OPTIONS] -- CMD [ARGS...]",
    .description =
        "Runs CMD with ARGS inside the sandbox of the Sandboxfile in the current directory (or the\n"
        "one named with --name), as the agent user in the agent's working directory with the agent's\n"
        "environment unless told otherwise. sbx's stdin, stdout and stderr are connected to the\n"
        "command's; SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to sbx are delivered to the command's\n"
        "process group in the guest. No shell is involved: write 'sh -c \"...\"' for one.\n"
        "\n"
        "EXIT STATUS\n"
        "    The command's exit status (128+N when signal N ended it); 127 when it cannot be started;\n"
        "    255 when the sandbox is not running or failed while the command ran (the reason and the\n"
        "    last console lines are printed); 2 usage error.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx exec -- uname -a\n"
        "    echo data | sbx exec -- sh -c 'wc -c'\n"
        "    sbx exec --user root --name hello -- dmesg\n",
    .options = {{"name", 'n', "NAME", "The sandbox to use (default: the one of ./Sandboxfile)."},
                {"user", 'u', "USER", "Run as USER inside the guest (default: the agent user)."},
                {"workdir", 'w', "DIR", "Working directory inside the guest."},
                {"env", 'e', "NAME=VALUE", "Set an environment variable (repeatable).", true},
                {"tty", 't', "", "Give the command a pseudo-terminal (stdout and stderr merge)."}},
    .min_positionals = 0,
    .max_positionals = 0,
    .takes_command = true,
    .run = run_exec,
};

}  // namespace sbx::cli
