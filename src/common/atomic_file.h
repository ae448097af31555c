#pragma once
// Files that appear whole or not at all: bytes go to a temporary file in the target's directory,
// which is flushed and renamed over the target, so a reader (or a crash) never sees half of it.
#include <filesystem>
#include <string_view>
#include <sys/types.h>

#include "common/error.h"

namespace sbx {

/// A new file under a unique temporary name in a directory, removed on destruction unless
/// committed (renamed into place). Move-only.
class TempFile {
 public:
  /// Create `dir/<prefix><pid>-<n>-<random>` with O_EXCL | O_NOFOLLOW | O_CLOEXEC and `mode`
  /// (less the umask); an `io` error naming `dir` and the errno text when it cannot.
  static Result<TempFile> create(const std::filesystem::path& dir, std::string_view prefix, mode_t mode = 0644);

  TempFile(TempFile&& o) noexcept;
  TempFile& operator=(TempFile&&) = delete;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();

  /// The open descriptor (write-only), -1 after commit.
  int fd() const { return fd_; }
  /// Where the file is until it is committed.
  const std::filesystem::path& path() const { return path_; }

  /// Append all of `data`, retrying short writes and EINTR.
  Result<void> write(std::string_view data);

  /// fsync and close the file, then rename it onto `target` (same file system); with `sync_dir`
  /// the directory is fsynced too, so the rename itself survives a crash. With `replace` false an
  /// existing `target` is kept and the result is a `conflict` error (renameat2 RENAME_NOREPLACE,
  /// so two writers cannot both win). On failure the temporary file is removed and `target` is
  /// untouched.
  Result<void> commit(const std::filesystem::path& target, bool sync_dir = false, bool replace = true);

 private:
  TempFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  void discard();

  std::filesystem::path path_;
  int fd_ = -1;
};

/// How write_file_atomic creates the file.
struct AtomicWriteOptions {
  mode_t mode = 0644;     // permission bits of the new file, less the umask
  bool sync_dir = false;  // also fsync the directory after the rename
  bool replace = true;    // false: an existing file is kept and the result is a `conflict` error
};

/// Replace `file` with `bytes` atomically: a temporary file in the same directory is written in
/// full, fsynced and renamed over `file`. On failure `file` keeps its old content (or stays
/// absent), no temporary file is left, and the `io` error names the path and the errno text.
Result<void> write_file_atomic(const std::filesystem::path& file, std::string_view bytes,
                               const AtomicWriteOptions& options = {});

}  // namespace sbx
