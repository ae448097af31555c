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

namespace {
// The components of `path` split at '/', without empty and "." ones ("..": kept); nullopt when
// a component holds a control character.
std::optional<std::vector<std::string_view>> path_parts(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    for (unsigned char c : part)
      if (c < 0x20 || c == 0x7f) return std::nullopt;
    parts.push_back(part);
  }
  return parts;
}

std::string join_parts(const std::vector<std::string_view>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}
}  // namespace

std::optional<std::string> clean_member_path(std::string_view name) {
  if (name.size() > 4096) return std::nullopt;
  auto parts = path_parts(name);
  if (!parts) return std::nullopt;
  for (const auto& part : *parts)
    if (part == "..") return std::nullopt;
  return join_parts(*parts);
}

std::optional<std::string> resolve_link_target(std::string_view link, std::string_view target) {
  if (target.empty() || target.size() > 4096) return std::nullopt;
  auto relative = path_parts(target);
  if (!relative) return std::nullopt;
  std::vector<std::string_view> parts;
  std::string parent;  // owns the link's directory parts while `parts` points into it
  if (target.front() != '/') {
    parent = split_parent(std::string(link)).first;
    auto up = path_parts(parent);
    if (!up) return std::nullopt;
    parts = std::move(*up);
  }
  for (const auto& part : *relative) {
    if (part != "..") {
      parts.push_back(part);
    } else if (parts.empty()) {
      return std::nullopt;
    } else {
      parts.pop_back();
    }
  }
  return join_parts(parts);
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
  Fd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  std::size_t i = 0;
  while (i < rel.size()) {
    std::size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    const std::string part = rel.substr(i, j - i);
    i = j + 1;
    if (::mkdirat(cur.get(), part.c_str(), 0755) != 0 && errno != EEXIST) return -1;
    int next = open_beneath(cur.get(), part, O_DIRECTORY | O_RDONLY);
    if (next < 0) return -1;
    cur = Fd(next);
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
