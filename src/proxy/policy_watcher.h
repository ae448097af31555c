#pragma once
// Internal: notices when the file a policy came from changes (mtime, size, inode), and loads it.
// Polled from the event loop; no inotify, so it works the same on every filesystem.
#include <filesystem>
#include <functional>
#include <sys/stat.h>

#include "common/error.h"
#include "proxy/proxy.h"

namespace sbx::proxy {

/// The file behind the rules in force and the loader that turns it into a Policy.
class PolicyWatcher {
 public:
  /// Watch `file`; `loader` reads it. The first poll() afterwards records, it reports no change.
  void watch(std::filesystem::path file, std::function<Result<Policy>()> loader);
  /// True when the file changed since the last poll (never before watch() or on the first look).
  bool poll();
  /// Whether there is a loader to reload with.
  bool can_load() const { return static_cast<bool>(loader_); }
  /// Load the file now.
  Result<Policy> load() const { return loader_(); }
  /// The file watched ("" when none).
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::function<Result<Policy>()> loader_;
  struct stat seen_ {};
  bool known_ = false;
};

}  // namespace sbx::proxy
