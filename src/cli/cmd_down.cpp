// sbx down [PATH] [--name N] [--all]: power a sandbox off and clean up after it.
#include <filesystem>
#include <csignal>
#include <iostream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/paths.h"
#include "reconcile/apply_down.h"
#include "reconcile/sandboxes.h"
#include "supervisor/client.h"
#include "supervisor/spawn.h"

namespace sbx::cli {
namespace {
using namespace std::chrono;
namespace fs = std::filesystem;

int run_down(const Args& args) {
  const Output out = Output::for_args(args);
  const bool json = out.json();
  std::vector<supervisor::SandboxPaths> targets;
  if (args.flag("all")) {
    for (const auto& s : reconcile::list_sandboxes(paths::state_dir())) targets.push_back(s.paths);
  } else {
    auto target = resolve_sandbox(args, true);
    if (!target) return out.error(target.error());
    targets.push_back(target->paths);
  }
  nlohmann::json results = nlohmann::json::array();
  int rc = 0;
  for (const auto& p : targets) {
    const std::string name = p.dir.filename().string();
    auto r = reconcile::apply_down(p, [&](std::string_view line) { out.note(line); });
    if (!r) {
      rc = 1;
      if (json) results.push_back({{"name", name}, {"ok", false}, {"error", r.error().message}});
      else out.error(r.error());
      continue;
    }
    if (json) results.push_back({{"name", name}, {"ok", true}, {"was", *r}});
    else out.note("sandbox '" + name + "' " + (*r == "running" ? "powered off" : "is " + *r + "; cleaned up"));
  }
  if (json) out.result({{"ok", rc == 0}, {"sandboxes", results}});
  return rc;
}

}  // namespace

const CommandSpec kDownCommand{
    .name = "down",
    .summary = "Power a sandbox off and remove its sockets",
    .usage = "sbx down [OPTIONS] [PATH]",
    .description =
        "Stops the sandbox of the Sandboxfile at PATH (default: the current directory), or the one\n"
        "named with --name, or every sandbox with --all. The guest agent is asked to power off\n"
        "cleanly (it syncs and powers the VM off); if it does not within 10 s the ACPI power button\n"
        "is pressed, and after 15 s the VMM is killed. Its supervisor then exits and removes its\n"
        "sockets. The state directory keeps state.json and the logs for 'sbx status' and 'sbx logs'.\n"
        "A sandbox that already crashed is cleaned up the same way.\n"
        "\n"
        "EXIT STATUS\n"
        "    0 stopped (or was not running); 1 no such sandbox or it could not be stopped; 2 usage.\n",
    .options = {{"name", 'n', "NAME", "The sandbox to stop."},
                {"all", 'a', "", "Stop every sandbox."},
                {"json", 0, "", "Print the result as JSON on stdout."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_down,
};

}  // namespace sbx::cli
