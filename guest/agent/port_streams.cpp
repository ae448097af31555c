// Port streams: the host forwards a connection it accepted on a [[port]] listener; the guest
// connects to 127.0.0.1:PORT (never anywhere else: the OPEN carries only a port) and then
// relays bytes like a proxy stream. A connect that does not finish at once is completed from
// the poll loop, so a full listen backlog in the guest never blocks PID 1.
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest/agent/session_impl.h"

namespace sbx::guest::agent {
namespace p = sbx::guest::protocol;

namespace {
std::string refusal(std::uint16_t port, int err) {
  return "cannot connect to 127.0.0.1:" + std::to_string(port) + " in the guest: " + std::strerror(err) +
         (err == ECONNREFUSED ? " (nothing listens there yet?)" : "");
}
}  // namespace

void Session::Impl::open_port(std::uint32_t id, std::uint16_t port) {
  if (streams_.size() >= kMaxStreams) return send(p::open_fail_frame(id, {"too many open streams", std::nullopt}));
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return send(p::open_fail_frame(id, {std::string("socket: ") + std::strerror(errno), errno}));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (r != 0 && errno != EINPROGRESS) {
    const int err = errno;
    ::close(fd);
    return send(p::open_fail_frame(id, {refusal(port, err), err}));
  }
  Stream s;
  s.id = id;
  s.kind = p::OpenKind::port;
  s.in_fd = s.out_fd[0] = fd;
  s.shared = true;
  s.out_eof[0] = false;
  s.guest_port = port;
  s.connecting = r != 0;
  streams_.emplace(id, s);
  if (!s.connecting) send(p::open_ok_frame(id, {}));
}

void Session::Impl::finish_connect(std::uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end() || !it->second.connecting) return;
  Stream& s = it->second;
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(s.out_fd[0], SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == EINPROGRESS || err == EALREADY) return;
  if (err != 0) {
    send(p::open_fail_frame(id, {refusal(s.guest_port, err), err}));
    destroy(s);
    streams_.erase(it);
    return;
  }
  s.connecting = false;
  send(p::open_ok_frame(id, {}));
  write_in(id);  // (the host sends nothing before OPEN_OK; harmless when empty)
}

}  // namespace sbx::guest::agent
