#include "image/safe_fs.h"

#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace sbx::image {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

std::optional<std::string> clean_member_path(std::string_view name) {
  if (name.size() > 4096) return std::nullopt;
  std::string out;
  std::size_t i = 0;
  while (i <= name.size()) {
    std::size_t j = name.find('/', i);
    if (j == std::string_view::npos) j = name.size();
    std::string_view part = name.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return std::nullopt;
    for (unsigned char c : part)
      if (c < 0x20 || c == 0x7f) return std::nullopt;
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

std::optional<std::string> resolve_link_target(std::string_view link, std::string_view target) {
  if (target.empty() || target.size() > 4096) return std::nullopt;
  std::vector<std::string> parts;
  if (target.front() != '/') {
    auto [parent, base] = split_parent(std::string(link));
    std::size_t i = 0;
    while (i < parent.size()) {
      std::size_t j = parent.find('/', i);
      if (j == std::string::npos) j = parent.size();
      parts.push_back(parent.substr(i, j - i));
      i = j + 1;
    }
  }
  std::size_t i = 0;
  while (i <= target.size()) {
    std::size_t j = target.find('/', i);
    if (j == std::string_view::npos) j = target.size();
    std::string_view part = target.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    for (unsigned char c : part)
      if (c < 0x20 || c == 0x7f) return std::nullopt;
    parts.emplace_back(part);
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

int open_beneath(int root_fd, const std::string& rel, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const char* path = rel.empty() ? "." : rel.c_str();
  long fd;
  do {
    fd = ::syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  return static_cast<int>(fd);
}

int mkdirs_beneath(int root_fd, const std::string& rel) {
  int fd = open_beneath(root_fd, rel, O_DIRECTORY | O_RDONLY);
  if (fd >= 0 || errno != ENOENT) return fd;
  UniqueFd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  std::size_t i = 0;
  while (i < rel.size()) {
    std::size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    const std::string part = rel.substr(i, j - i);
    i = j + 1;
    if (::mkdirat(cur.get(), part.c_str(), 0755) != 0 && errno != EEXIST) return -1;
    int next = open_beneath(cur.get(), part, O_DIRECTORY | O_RDONLY);
    if (next < 0) return -1;
    cur = UniqueFd(next);
  }
  return cur.release();
}

bool remove_at(int dir_fd, const std::string& name) {
  struct stat st{};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT;
  if (!S_ISDIR(st.st_mode)) return ::unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT;
  int fd = ::openat(dir_fd, name.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  // A directory without search permission (mode 0) is still ours to empty.
  if ((st.st_mode & 0700) != 0700) ::fchmod(fd, (st.st_mode & 07777) | 0700);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return false;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  bool ok = true;
  for (const auto& n : names) ok = remove_at(::dirfd(d), n) && ok;
  ::closedir(d);
  return ok && (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT);
}

std::pair<std::string, std::string> split_parent(const std::string& rel) {
  const auto slash = rel.rfind('/');
  if (slash == std::string::npos) return {std::string(), rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

}  // namespace sbx::image
