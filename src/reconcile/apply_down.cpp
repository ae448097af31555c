#include "reconcile/apply_down.h"

#include <unistd.h>

#include "common/paths.h"
#include "reconcile/sandboxes.h"

namespace sbx::reconcile {
namespace fs = std::filesystem;
using namespace std::chrono;

Result<std::string> apply_down(const supervisor::SandboxPaths& paths, const Say& note) {
  Fd lifecycle;  // an 'sbx up' still booting this sandbox finishes first
  if (fs::is_directory(paths.dir)) lifecycle = SBX_TRY(lock_lifecycle(paths, seconds(300), note));
  return stop_locked(paths);
}

Result<Removed> apply_rm(const supervisor::SandboxPaths& paths, bool force, const Say& note) {
  const std::string name = paths.dir.filename().string();
  Fd lifecycle = SBX_TRY(lock_lifecycle(paths, seconds(300), note));  // an sbx up booting it finishes first
  Removed r;
  r.was = "stopped";
  for (const auto& s : list_sandboxes(paths.dir.parent_path().parent_path()))
    if (s.name == name) {
      r.was = s.status;
      r.freed = s.disk_used_bytes;
      if (s.live && !force)
        return fail(ErrorCode::conflict, "sandbox '" + name + "' is " + s.status + "; 'sbx rm' does not remove a running sandbox",
                    "stop it first ('sbx down --name " + name + "'), or run 'sbx rm --force " + name + "'");
      if (s.live) SBX_TRY(stop_locked(paths));
    }
  // Out of the listing in one step (names starting with '.' are never sandboxes), then deleted:
  // a removal cut short leaves a hidden directory, never half a sandbox.
  const fs::path doomed = paths.dir.parent_path() / (".rm-" + name + "-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::rename(paths.dir, doomed, ec);
  if (ec) return fail(ErrorCode::io, "cannot remove " + paths.dir.string() + ": " + ec.message());
  fs::remove_all(doomed, ec);
  if (ec) return fail(ErrorCode::io, "removed sandbox '" + name + "' but not all of " + doomed.string() + ": " + ec.message(),
                      "delete that directory by hand");
  return r;
}

void remove_leftovers(const fs::path& state_dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state_dir / "sandboxes", ec))
    if (e.path().filename().string().starts_with(".rm-")) fs::remove_all(e.path(), ec);
}

Result<std::optional<std::string>> apply_restart_stop(const supervisor::SandboxPaths& paths, const Say& note) {
  if (!fs::exists(paths.state())) return std::optional<std::string>();
  Fd lock = SBX_TRY(lock_lifecycle(paths, seconds(300), note));
  return std::optional<std::string>(SBX_TRY(stop_locked(paths)));
}

}  // namespace sbx::reconcile
