#pragma once
// `sbx up`'s job, owned here (the command only parses flags and prints): check that the
// Sandboxfile fits the host, take the lifecycle lock, get the user's approval, build or reuse the
// guest artifacts, plan against what runs, then repair, hot-update, stop and boot as the plan
// says, with the disk made, grown or reset first. What needs the terminal (questions, lines) is
// a hook the command gives.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"
#include "image/progress.h"
#include "proxy/host_pins.h"
#include "reconcile/launch_builder.h"
#include "reconcile/lifecycle.h"
#include "reconcile/plan.h"
#include "reconcile/sandbox_disk.h"
#include "supervisor/launch.h"
#include "supervisor/state.h"

namespace sbx::reconcile {

/// What to bring up.
struct UpRequest {
  const config::Sandboxfile* file = nullptr;  // loaded, mount sources and policies checked
  supervisor::SandboxPaths paths;
  std::vector<proxy::HostPin> pins;           // SBX_EGRESS_RESOLVE of this run
  bool fresh = false;                         // --fresh: start over from the image
  int timeout_s = 120;                        // for the guest to become ready
};

/// The command's part: lines for the terminal and its questions.
struct UpHooks {
  Say note, warn, progress;                   // human lines (each may be empty)
  image::ProgressSink meter;                  // byte progress of image builds
  /// New grants of the Sandboxfile: asks on a terminal, refuses without one unless --yes.
  std::function<Result<void>()> approve;
  /// The disk plan of a boot (a reset asks first).
  std::function<Result<DiskPlan>(const Artifacts&)> decide_disk;
};

/// What up did.
struct UpOutcome {
  Plan plan;
  Artifacts artifacts;
  supervisor::Launch desired;
  std::optional<DiskPlan> disk;       // when it booted
  bool repaired = false;              // a dead egress proxy was restarted
  std::vector<std::string> warnings;  // host fit and limits (also given to hooks.warn)
};

/// Make the sandbox of `request.file` run as its Sandboxfile says; returns once it is ready (the
/// lifecycle lock is released then: an attached agent may run for hours).
Result<UpOutcome> apply_up(const UpRequest& request, const UpHooks& hooks);

}  // namespace sbx::reconcile
