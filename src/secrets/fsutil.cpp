#include "secrets/fsutil.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/errno_text.h"
#include "common/text.h"

namespace sbx::secrets::detail {
namespace fs = std::filesystem;
namespace {

std::string quoted(const fs::path& p) { return text::shell_quote(p.string()); }

std::string user_name() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name) return pw->pw_name;
  return std::to_string(::geteuid());
}

std::string mode_text(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Owner and mode rules shared by files and the directory.
Result<void> check_stat(const struct stat& st, const fs::path& p, bool is_dir) {
  if (st.st_uid != ::geteuid())
    return fail(ErrorCode::permission,
                (is_dir ? "secret store directory " : "secret store file ") + p.string() + " is owned by uid " +
                    std::to_string(st.st_uid) + ", not by you (uid " + std::to_string(::geteuid()) + ")",
                "if this is your store, run: sudo chown " + user_name() + " " + quoted(p) +
                    "; otherwise point SBX_DATA_DIR at your own directory");
  if ((st.st_mode & 077) != 0)
    return fail(ErrorCode::permission,
                (is_dir ? "secret store directory " : "secret store file ") + p.string() + " has mode " +
                    mode_text(st.st_mode) + "; it must not be accessible to group or others",
                std::string("run: chmod ") + (is_dir ? "700 " : "600 ") + quoted(p));
  return {};
}

Result<void> fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(ErrorCode::io, "cannot open " + dir.string() + " to sync it: " + errno_text());
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) return fail(ErrorCode::io, "cannot sync directory " + dir.string() + ": " + std::strerror(saved), "check the disk");
  return {};
}

}  // namespace

Result<void> check_private_dir(const fs::path& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return fail(ErrorCode::not_found, "no secret store at " + dir.string(),
                  "create one with 'sbx secret set NAME' (or 'sbx secret show-public-key')");
    return fail(ErrorCode::io, "cannot stat " + dir.string() + ": " + errno_text());
  }
  if (S_ISLNK(st.st_mode))
    return fail(ErrorCode::permission, "secret store directory " + dir.string() + " is a symbolic link",
                "point SBX_DATA_DIR (or XDG_DATA_HOME) at the real directory instead");
  if (!S_ISDIR(st.st_mode))
    return fail(ErrorCode::invalid, dir.string() + " is not a directory", "move it away; sbx keeps its secret store there");
  return check_stat(st, dir, true);
}

Result<void> make_private_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) {
    if (dir.has_parent_path()) {
      fs::create_directories(dir.parent_path(), ec);
      if (ec)
        return fail(ErrorCode::io, "cannot create " + dir.parent_path().string() + ": " + ec.message(),
                    "check that its parent is writable by you");
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return fail(ErrorCode::io, "cannot create " + dir.string() + ": " + errno_text(), "check that its parent is writable by you");
    // mkdir's mode is filtered by the umask, which can only remove bits: 0700 stays 0700 or less.
  }
  return check_private_dir(dir);
}

Result<void> check_private_file(const fs::path& file) {
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0) {
    if (errno == ENOENT) return fail(ErrorCode::not_found, file.string() + " does not exist");
    return fail(ErrorCode::io, "cannot stat " + file.string() + ": " + errno_text());
  }
  if (!S_ISREG(st.st_mode))
    return fail(ErrorCode::permission, "secret store file " + file.string() + " is not a regular file",
                "remove it: rm " + quoted(file));
  return check_stat(st, file, false);
}

Result<std::string> read_private_file(const fs::path& file, std::size_t max_size) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return fail(ErrorCode::not_found, file.string() + " does not exist");
    if (errno == ELOOP)
      return fail(ErrorCode::permission, "secret store file " + file.string() + " is a symbolic link",
                  "replace the link with the file itself, or remove it: rm " + quoted(file));
    return fail(ErrorCode::io, "cannot open " + file.string() + ": " + errno_text(), "check its permissions");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(ErrorCode::io, "cannot stat " + file.string() + ": " + errno_text());
  if (!S_ISREG(st.st_mode))
    return fail(ErrorCode::permission, "secret store file " + file.string() + " is not a regular file",
                "remove it: rm " + quoted(file));
  SBX_TRY_VOID(check_stat(st, file, false));
  if (static_cast<std::size_t>(st.st_size) > max_size)
    return fail(ErrorCode::invalid, file.string() + " is " + std::to_string(st.st_size) + " bytes, more than a store file can be",
                "it is not an sbx store file; move it out of the store directory");
  std::string bytes;
  bytes.resize(static_cast<std::size_t>(st.st_size) + 1);
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::io, "cannot read " + file.string() + ": " + errno_text());
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > max_size)
    return fail(ErrorCode::invalid, file.string() + " grew while being read", "retry; another process may be writing it");
  bytes.resize(got);
  return bytes;
}

bool is_temp_name(std::string_view file_name) { return file_name.starts_with(".tmp-"); }

Result<void> write_atomic(const fs::path& dir, std::string_view name, std::string_view bytes) {
  // The ".tmp-" prefix is what is_temp_name() and remove_stale_temps() recognise.
  auto tmp = SBX_TRY(TempFile::create(dir, ".tmp-" + std::string(name) + "-", 0600));
  // Exactly 0600 whatever the umask: the store's files are never readable by others.
  if (::fchmod(tmp.fd(), 0600) != 0)
    return fail(ErrorCode::io, "cannot chmod " + tmp.path().string() + ": " + errno_text(), "check the permissions of " + dir.string());
  if (auto w = tmp.write(bytes); !w)
    return fail(ErrorCode::io, w.error().message, "check free space on the disk holding " + dir.string());
  return tmp.commit(dir / std::string(name), /*sync_dir=*/true);
}

Result<void> remove_durable(const fs::path& dir, std::string_view name) {
  const fs::path target = dir / std::string(name);
  if (::unlink(target.c_str()) != 0) {
    if (errno == ENOENT) return fail(ErrorCode::not_found, target.string() + " does not exist");
    return fail(ErrorCode::io, "cannot remove " + target.string() + ": " + errno_text(), "check the permissions of " + dir.string());
  }
  return fsync_dir(dir);
}

void remove_stale_temps(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string fname = it->path().filename().string();
    if (is_temp_name(fname)) ::unlink(it->path().c_str());
  }
}

Result<DirLock> DirLock::acquire(const fs::path& dir, int timeout_ms) {
  const fs::path lock_path = dir / ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == ELOOP)
      return fail(ErrorCode::permission, lock_path.string() + " is a symbolic link", "remove it: rm " + quoted(lock_path));
    return fail(ErrorCode::io, "cannot open lock file " + lock_path.string() + ": " + errno_text(),
                "check the permissions of " + dir.string());
  }
  DirLock lock(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(ErrorCode::io, "cannot stat " + lock_path.string() + ": " + errno_text());
  SBX_TRY_VOID(check_stat(st, lock_path, false));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR)
      return fail(ErrorCode::io, "cannot lock " + lock_path.string() + ": " + errno_text());
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(ErrorCode::conflict, "another sbx process has held the secret store lock for " +
                                           std::to_string(timeout_ms / 1000) + " s (" + lock_path.string() + ")",
                  "wait for it to finish, or find it with: fuser " + quoted(lock_path));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return lock;
}

DirLock::DirLock(DirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the flock
}

}  // namespace sbx::secrets::detail
