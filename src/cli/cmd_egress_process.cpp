// sbx __egress DIR: the hidden entry point of a sandbox's egress proxy child (started by its
// supervisor with the control socket on fd 3).
#include "cli/commands.h"
#include "common/log.h"
#include "supervisor/egress_child.h"

namespace sbx::cli {
namespace {

int run_egress_process(const Args& args) {
  sbx::log::init("info");  // stderr is the sandbox's supervisor.log
  return supervisor::run_egress_process(args.positionals.front(), 3);
}

}  // namespace

const CommandSpec kEgressProcessCommand{
    .name = "__egress",
    .summary = "(internal) run the egress proxy of one sandbox",
    .usage = "sbx __egress STATE_DIR",
    .description = "Started by a sandbox's supervisor with its control socket on fd 3; not meant to be run\n"
                   "by hand. Enforces the applied Sandboxfile's [egress] rules and injects its header\n"
                   "secrets for the guest connections the supervisor hands it; logs each decision to\n"
                   "STATE_DIR/egress.log.\n",
    .options = {},
    .min_positionals = 1,
    .max_positionals = 1,
    .run = run_egress_process,
};

}  // namespace sbx::cli
