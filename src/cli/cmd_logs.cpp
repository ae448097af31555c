// sbx logs [PATH] [--name N] [--console] [--follow]: a sandbox's logs.
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "supervisor/spawn.h"

namespace sbx::cli {
namespace {

int run_logs(const Args& args) {
  auto t = resolve_sandbox(args, true);
  if (!t) return report(t.error());
  const auto file = args.flag("console") ? t->paths.console_log()
                    : args.flag("guest") ? t->paths.guest_log()
                                         : t->paths.supervisor_log();
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return report(Error{ErrorCode::not_found, "no log " + file.string(), {}, "has the sandbox run? start it with 'sbx up'", {}});
  std::cout << in.rdbuf();
  std::cout.flush();
  if (!args.flag("follow")) return 0;
  // Follow until the supervisor is gone.
  in.clear();
  char buf[8192];
  for (;;) {
    in.read(buf, sizeof buf);
    const auto n = in.gcount();
    if (n > 0) {
      std::cout.write(buf, n);
      std::cout.flush();
      continue;
    }
    in.clear();
    auto st = supervisor::read_state(t->paths);
    if (!st || !supervisor::supervisor_alive(st->supervisor_pid)) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

const CommandSpec kLogsCommand{
    .name = "logs",
    .summary = "Print a sandbox's logs",
    .usage = "sbx logs [OPTIONS] [PATH]",
    .description =
        "Prints the supervisor log of the sandbox of the Sandboxfile at PATH or in the current\n"
        "directory (or --name): lifecycle lines (VMM started, guest hello, ready, stop) and errors.\n"
        "--console prints the guest's serial console instead (kernel messages, panics), --guest the\n"
        "log streams the guest agent sent. The files live in the sandbox's state directory and are\n"
        "kept after 'sbx down'.\n",
    .options = {{"name", 'n', "NAME", "The sandbox."},
                {"console", 'c', "", "The guest serial console (kernel messages)."},
                {"guest", 'g', "", "The guest agent's log streams."},
                {"follow", 'f', "", "Keep printing new lines while the sandbox runs."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_logs,
};

}  // namespace sbx::cli
