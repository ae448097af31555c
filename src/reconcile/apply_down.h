#pragma once
// `sbx down`, `sbx rm` and the stop of `sbx restart`, owned here (the commands parse flags and
// print): each under the sandbox's lifecycle lock, so an `sbx up` still booting it finishes first.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/error.h"
#include "reconcile/lifecycle.h"
#include "supervisor/state.h"

namespace sbx::reconcile {

/// Power the sandbox off and clean up after it; returns what it was ("running", "crashed", ...).
Result<std::string> apply_down(const supervisor::SandboxPaths& paths, const Say& note);

/// What a removal did.
struct Removed {
  std::string was;          // its status before
  std::uint64_t freed = 0;  // bytes its disk held
};

/// Delete the sandbox: its disk, state and logs. A live one is refused (conflict, with the fix)
/// unless `force`, which stops it first. It leaves the listing in one rename (to a hidden
/// ".rm-" name), so a removal cut short never leaves half a sandbox.
Result<Removed> apply_rm(const supervisor::SandboxPaths& paths, bool force, const Say& note);

/// Delete what removals cut short left under `state_dir`/sandboxes (".rm-*").
void remove_leftovers(const std::filesystem::path& state_dir);

/// The first half of restart: stop the sandbox under the lock and release it (the up that
/// follows takes it again). nullopt when the sandbox has no recorded state (never started).
Result<std::optional<std::string>> apply_restart_stop(const supervisor::SandboxPaths& paths, const Say& note);

}  // namespace sbx::reconcile
