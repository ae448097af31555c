#include "cli/cmd_up_disk.h"

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <unistd.h>

#include "supervisor/state.h"
#include "supervisor/spawn.h"


namespace sbx::cli {
namespace {

// "y" or "yes" on stdin after the question on stderr (both terminals).
bool ask_yes(const std::string& question) {
  std::cerr << "sbx: " << question << " [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace

Result<reconcile::DiskPlan> decide_disk(const config::Sandboxfile& file, const reconcile::Artifacts& artifacts,
                                        const supervisor::SandboxPaths& paths, bool fresh, bool yes, const Output& out) {
  auto plan = SBX_TRY(reconcile::plan_sandbox_disk(paths, reconcile::disk_lower(artifacts), file.resources.disk_bytes, fresh));
  if (plan.action != reconcile::DiskAction::keep)
    out.note("sandbox '" + file.name + "': disk: " + reconcile::disk_action_name(plan.action) + " (" + plan.reason + ")");
  if (!plan.loses_data() || fresh || yes) return plan;
  const std::string what = "reset the disk of sandbox '" + file.name + "'? What the guest wrote there (installed "
                           "packages, files outside the mounts) is lost";
  if (!out.json() && ::isatty(0) && ::isatty(2)) {
    if (ask_yes(what)) return plan;
    return fail(ErrorCode::conflict, "sandbox '" + file.name + "' was left as it was: its disk is kept",
                "to keep the disk, go back to the image it was made on; to start over, answer y or run 'sbx up --yes'");
  }
  return fail(ErrorCode::conflict,
              "sandbox '" + file.name + "' needs its disk reset, which loses what the guest wrote there: " + plan.reason,
              "run 'sbx up --yes' to reset it, or go back to the image the disk was made on");
}

}  // namespace sbx::cli
