#include "proxy/policy_watcher.h"

namespace sbx::proxy {

void PolicyWatcher::watch(std::filesystem::path file, std::function<Result<Policy>()> loader) {
  file_ = std::move(file);
  loader_ = std::move(loader);
  known_ = false;
}

bool PolicyWatcher::poll() {
  if (file_.empty()) return false;
  struct stat s {};
  if (::stat(file_.c_str(), &s) != 0) return false;
  const bool same = known_ && s.st_mtim.tv_sec == seen_.st_mtim.tv_sec && s.st_mtim.tv_nsec == seen_.st_mtim.tv_nsec &&
                    s.st_size == seen_.st_size && s.st_ino == seen_.st_ino;
  if (same) return false;
  const bool first = !known_;
  seen_ = s;
  known_ = true;
  return !first;
}

}  // namespace sbx::proxy
