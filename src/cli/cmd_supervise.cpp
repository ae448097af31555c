// sbx __supervise DIR: the hidden entry point of a sandbox's supervisor process (started by up).
#include "cli/commands.h"
#include "common/log.h"
#include "supervisor/supervisor.h"

namespace sbx::cli {
namespace {

int run_supervise(const Args& args) {
  sbx::log::init("info");  // the supervisor's stderr is its log file
  return supervisor::run_supervisor(args.positionals.front());
}

}  // namespace

const CommandSpec kSuperviseCommand{
    .name = "__supervise",
    .summary = "(internal) run the supervisor of one sandbox",
    .usage = "sbx __supervise STATE_DIR",
    .description = "Started by 'sbx up'; not meant to be run by hand. Runs in its own session, owns the\n"
                   "VMM process, the guest channel and the control socket STATE_DIR/ctl.sock, and\n"
                   "records STATE_DIR/state.json.\n",
    .options = {},
    .min_positionals = 1,
    .max_positionals = 1,
    .run = run_supervise,
};

}  // namespace sbx::cli
