// sbx restart [PATH]: down, then up with the same Sandboxfile; the sandbox disk is kept.
#include <filesystem>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "reconcile/apply_down.h"

namespace sbx::cli {
namespace {
using namespace std::chrono;
namespace fs = std::filesystem;

int run_restart(const Args& args) {
  const Output out = Output::for_args(args);
  auto target = resolve_sandbox(args, true);
  if (!target) return out.error(target.error());
  // Stopped under the lifecycle lock (an 'sbx up' still booting it finishes first), then the
  // lock is released: 'sbx up' below takes it again for the boot.
  auto was = reconcile::apply_restart_stop(target->paths, [&](std::string_view line) { out.note(line); });
  if (!was) return out.error(was.error());
  if (*was)
    out.note("sandbox '" + target->name + "' " + (**was == "running" ? "powered off" : "was " + **was) + "; starting it again");
  // The rest is exactly 'sbx up' with the same arguments (its options are a subset of these).
  Args up = args;
  up.spec = &kUpCommand;
  return kUpCommand.run(up);
}

}  // namespace

const CommandSpec kRestartCommand{
    .name = "restart",
    .summary = "Stop a sandbox and start it again, keeping its disk",
    .usage = "sbx restart [OPTIONS] [PATH]",
    .description =
        "Powers off the sandbox of the Sandboxfile at PATH (default: the current directory) as\n"
        "'sbx down' does, then starts it as 'sbx up' does, from the same Sandboxfile as it reads now.\n"
        "The sandbox disk is kept (what the guest installed or wrote outside its mounts stays); a\n"
        "changed image still resets it after asking (--yes for scripts). A sandbox that is not\n"
        "running (stopped, crashed, or never started) is just started. Forwarded ports are freed\n"
        "and taken again.\n"
        "\n"
        "Like 'sbx up', it runs the [agent] command attached unless --detach.\n"
        "\n"
        "EXIT STATUS\n"
        "    As 'sbx up': the agent command's exit status (0 with --detach); 1 when the sandbox could\n"
        "    not be stopped or started; 2 usage error.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx restart --detach\n"
        "    sbx restart --json --detach examples/hello\n",
    .options = {{"detach", 'd', "", "Start the sandbox but do not run the agent command."},
                {"yes", 'y', "", "Reset the disk without asking when the image changed (for scripts)."},
                {"timeout", 0, "SECONDS", "How long to wait for the guest to become ready (default 120)."},
                {"json", 0, "", "Print one JSON result on stdout (as 'sbx up --json'); the agent's output goes to stderr."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_restart,
};

}  // namespace sbx::cli
