#pragma once
// One builder per cached artifact: two `sbx up` that need the same dev image or agent layer (two
// sandboxes started at once, or CI running the agent and Docker tests side by side) must not both
// run mmdebstrap or a build VM. The second waits on a lock file beside the cache and then finds the
// first one's result.
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/fd.h"

namespace sbx::image {

/// An exclusive flock on `<dir>/.<key>.lock`, held until destroyed.
class BuildLock {
 public:
  /// Wait up to `timeout` for the lock. `say` gets one line when it has to wait (who holds it is
  /// another sbx process building `what`).
  static Result<BuildLock> acquire(const std::filesystem::path& dir, const std::string& key, std::string_view what,
                                   std::chrono::seconds timeout, const std::function<void(std::string_view)>& say);
  bool waited() const { return waited_; }

 private:
  BuildLock(Fd fd, bool waited) : fd_(std::move(fd)), waited_(waited) {}
  Fd fd_;
  bool waited_ = false;
};

/// Keys become file names: anything but [A-Za-z0-9._-] turns into '_', and long keys are cut.
std::string build_lock_name(std::string_view key);

}  // namespace sbx::image
