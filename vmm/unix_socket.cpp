#include "vmm/unix_socket.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace sbx::vmm {
namespace {

// sockaddr for `path`; long paths go through an O_PATH fd of the parent directory.
bool make_addr(const std::filesystem::path& path, sockaddr_un& addr, Fd& dir_holder) {
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  std::string p = path.string();
  if (p.size() >= sizeof addr.sun_path) {
    const int dfd = ::open(path.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return false;
    dir_holder.reset(dfd);
    p = "/proc/self/fd/" + std::to_string(dfd) + "/" + path.filename().string();
    if (p.size() >= sizeof addr.sun_path) return false;
  }
  std::memcpy(addr.sun_path, p.data(), p.size());
  return true;
}

}  // namespace

Result<Fd> connect_unix(const std::filesystem::path& path) {
  sockaddr_un addr;
  Fd dir;
  if (!make_addr(path, addr, dir))
    return fail(ErrorCode::io, "socket path too long: " + path.string(), "use a shorter state directory");
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return fail(ErrorCode::io, std::string("socket(): ") + std::strerror(errno));
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail(ErrorCode::io, "cannot connect to " + path.string() + ": " + std::strerror(errno));
  return s;
}

Result<Fd> connect_unix_retry(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delay = std::chrono::milliseconds(1);
  for (;;) {
    auto r = connect_unix(path);
    if (r || std::chrono::steady_clock::now() >= deadline) return r;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(20));
  }
}

Result<Fd> listen_unix(const std::filesystem::path& path) {
  sockaddr_un addr;
  Fd dir;
  if (!make_addr(path, addr, dir))
    return fail(ErrorCode::io, "socket path too long: " + path.string(), "use a shorter state directory");
  ::unlink(path.c_str());
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return fail(ErrorCode::io, std::string("socket(): ") + std::strerror(errno));
  const mode_t old = ::umask(0077);
  const int rc = ::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0 || ::listen(s.get(), 64) != 0)
    return fail(ErrorCode::io, "cannot listen on " + path.string() + ": " + std::strerror(errno));
  return s;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) {
      const ssize_t w = ::write(fd, data.data(), data.size());
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      data.remove_prefix(static_cast<size_t>(w));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
      continue;
    }
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc < 0 && errno == EINTR) continue;
    return rc > 0;
  }
}

}  // namespace sbx::vmm
