#pragma once
// Private-file plumbing for the store: permission checks with fix hints, atomic durable writes,
// and the writers' lock. Internal to sbx_secrets.
#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.h"

namespace sbx::secrets::detail {

/// Check that `dir` is a real directory owned by us with no group/other access.
Result<void> check_private_dir(const std::filesystem::path& dir);
/// Create `dir` (mode 0700; parents as needed) if missing, then check_private_dir().
Result<void> make_private_dir(const std::filesystem::path& dir);
/// Read a regular, non-symlink file owned by us with mode 0600 or stricter (at most `max_size`
/// bytes). `not_found` when it does not exist.
Result<std::string> read_private_file(const std::filesystem::path& file, std::size_t max_size);
/// Check owner and mode of an existing file without reading it.
Result<void> check_private_file(const std::filesystem::path& file);
/// Replace dir/name with `bytes` atomically and durably: temp file (0600, O_EXCL), write, fsync,
/// rename over the target, fsync of the directory. Nothing is left behind on failure.
Result<void> write_atomic(const std::filesystem::path& dir, std::string_view name, std::string_view bytes);
/// Unlink dir/name and fsync the directory.
Result<void> remove_durable(const std::filesystem::path& dir, std::string_view name);
/// Remove temp files a crashed writer left behind (call with the lock held).
void remove_stale_temps(const std::filesystem::path& dir);
/// True for names of temp files made by write_atomic.
bool is_temp_name(std::string_view file_name);

/// An exclusive flock() on dir/.lock, held for the object's lifetime.
class DirLock {
 public:
  /// Wait (up to `timeout_ms`) for the lock.
  static Result<DirLock> acquire(const std::filesystem::path& dir, int timeout_ms = 30000);
  DirLock(DirLock&& other) noexcept;
  DirLock& operator=(DirLock&&) = delete;
  DirLock(const DirLock&) = delete;
  ~DirLock();

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace sbx::secrets::detail
