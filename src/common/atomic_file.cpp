#include "common/atomic_file.h"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <random>
#include <stdio.h>  // renameat2
#include <string>
#include <unistd.h>

#include "common/errno_text.h"

namespace sbx {

namespace fs = std::filesystem;

Result<TempFile> TempFile::create(const fs::path& dir, std::string_view prefix, mode_t mode) {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  int err = EEXIST;
  // O_EXCL never reuses a name: a leftover from a crashed run (same pid later) or a concurrent
  // writer only costs another try with the next name.
  for (int i = 0; i < 8 && err == EEXIST; ++i) {
    fs::path path = dir / (std::string(prefix) + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                           std::to_string(rd()));
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd >= 0) return TempFile(std::move(path), fd);
    err = errno;
  }
  return fail(ErrorCode::io, "cannot create a file in " + dir.string() + ": " + errno_text(err),
              "check the permissions of and the free space in " + dir.string());
}

TempFile::TempFile(TempFile&& o) noexcept : path_(std::move(o.path_)), fd_(o.fd_) {
  o.fd_ = -1;
  o.path_.clear();
}

TempFile::~TempFile() { discard(); }

void TempFile::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
}

Result<void> TempFile::write(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrorCode::io, "cannot write " + path_.string() + ": " + errno_text(n < 0 ? errno : ENOSPC));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> TempFile::commit(const fs::path& target, bool sync_dir, bool replace) {
  const bool synced = ::fsync(fd_) == 0;
  int err = errno;
  const bool closed = ::close(fd_) == 0;
  if (synced && !closed) err = errno;
  fd_ = -1;
  if (!synced || !closed) {
    const std::string what = path_.string();
    discard();
    return fail(ErrorCode::io, "cannot flush " + what + ": " + errno_text(err));
  }
  const int renamed = replace ? ::rename(path_.c_str(), target.c_str())
                              : ::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE);
  if (renamed != 0) {
    err = errno;
    const std::string what = path_.string();
    discard();
    if (err == EEXIST && !replace) return fail(ErrorCode::conflict, target.string() + " already exists");
    return fail(ErrorCode::io, "cannot rename " + what + " to " + target.string() + ": " + errno_text(err));
  }
  path_.clear();
  if (sync_dir) {
    fs::path dir = target.parent_path();
    if (dir.empty()) dir = ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return fail(ErrorCode::io, "cannot open " + dir.string() + ": " + errno_text());
    const bool ok = ::fsync(dfd) == 0;
    err = errno;
    ::close(dfd);
    if (!ok) return fail(ErrorCode::io, "cannot fsync " + dir.string() + ": " + errno_text(err));
  }
  return {};
}

Result<void> write_file_atomic(const fs::path& file, std::string_view bytes, const AtomicWriteOptions& options) {
  fs::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  auto tmp = TempFile::create(dir, file.filename().string() + ".tmp.", options.mode);
  if (!tmp) return fail(ErrorCode::io, "cannot write " + file.string() + ": " + tmp.error().message, tmp.error().hint);
  if (auto w = tmp->write(bytes); !w) return fail(ErrorCode::io, "cannot write " + file.string() + ": " + w.error().message,
                                                  "check the free space in " + dir.string());
  if (auto c = tmp->commit(file, options.sync_dir, options.replace); !c) {
    if (c.error().code == ErrorCode::conflict) return std::unexpected(c.error());
    return fail(ErrorCode::io, "cannot write " + file.string() + ": " + c.error().message);
  }
  return {};
}

}  // namespace sbx
