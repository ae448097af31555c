#include "supervisor/fd_passing.h"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace sbx::supervisor {

IoStatus send_with_fd(int sock, std::string_view message, int fd) {
  if (message.size() > kMaxControlMessage) return IoStatus::error;
  // A zero-length SEQPACKET packet is indistinguishable from EOF for the reader: send one byte.
  const char filler = 0;
  iovec iov{const_cast<char*>(message.empty() ? &filler : message.data()), message.empty() ? 1 : message.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  for (;;) {
    const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return IoStatus::ok;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return IoStatus::again;
    if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) return IoStatus::closed;
    return IoStatus::error;
  }
}

IoStatus receive_with_fd(int sock, Packet& out) {
  char buf[kMaxControlMessage + 1];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  for (;;) {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n >= 0 || errno != EINTR) break;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::again;
    if (errno == ECONNRESET) return IoStatus::closed;
    return IoStatus::error;
  }
  // Take ownership of every descriptor that came, whatever else is wrong with the packet.
  std::vector<Fd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  if (n == 0) return IoStatus::closed;
  if ((msg.msg_flags & MSG_TRUNC) || static_cast<size_t>(n) > kMaxControlMessage) return IoStatus::error;
  out.message.assign(buf, static_cast<size_t>(n));
  if (out.message.size() == 1 && out.message[0] == 0) out.message.clear();
  // MSG_CTRUNC: the kernel could not install the descriptor (EMFILE/ENFILE) and closed it. The
  // message is whole and the peer still there: back-pressure for this packet, nothing more.
  if ((msg.msg_flags & MSG_CTRUNC) || fds.size() > 1) {
    out.fd_lost = true;
    out.fd = Fd();
    return IoStatus::ok;
  }
  out.fd = fds.empty() ? Fd() : std::move(fds.front());
  out.fd_lost = false;
  return IoStatus::ok;
}

Result<std::pair<Fd, Fd>> control_pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return fail(ErrorCode::io, std::string("socketpair: ") + std::strerror(errno));
  return std::pair<Fd, Fd>{Fd(sv[0]), Fd(sv[1])};
}

}  // namespace sbx::supervisor
