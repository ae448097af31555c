#pragma once
// What every lifecycle job (up, down, rm, restart, save) shares: the per-sandbox lifecycle lock,
// and stopping a sandbox whose lock the caller holds.
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/fd.h"
#include "supervisor/state.h"

namespace sbx::reconcile {

/// A human line for the terminal (progress, a note); may be empty.
using Say = std::function<void(std::string_view)>;

/// Hold the sandbox's lifecycle lock (an flock on <state dir>/lifecycle.lock) so that two
/// lifecycle jobs of one sandbox never interleave; waits up to `timeout`, saying so once through
/// `say`. The lock is released when the returned fd closes (or the process dies).
Result<Fd> lock_lifecycle(const supervisor::SandboxPaths& paths, std::chrono::seconds timeout, const Say& say);

/// Stop the sandbox at `paths`, whose lifecycle lock the caller holds: the stop is recorded
/// (supervisor::write_stop_request), its supervisor asked to power the guest off (then killed
/// after a bounded wait), its sockets removed. state.json is the supervisor's alone: a supervisor
/// killed here reads stopped through the stop request, and a crash before the stop stays a crash.
/// Returns what it was before ("running", "crashed", ...); not_found when it has no state.json.
Result<std::string> stop_locked(const supervisor::SandboxPaths& paths);

}  // namespace sbx::reconcile
