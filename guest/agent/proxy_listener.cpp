#include "guest/agent/proxy_listener.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest/agent/console.h"
#include "guest/agent/session_impl.h"
#include "guest/protocol/frame.h"

namespace sbx::guest::agent {
namespace p = sbx::guest::protocol;

int open_proxy_listener(const char* address) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // The docker bridge's address exists only once dockerd made the bridge: bind it beforehand.
  if (address) ::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(p::kProxyPort);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (address && ::inet_pton(AF_INET, address, &addr.sin_addr) != 1) {
    ::close(fd);
    return -1;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    say(std::string("proxy listener on ") + (address ? address : "127.0.0.1") + ":3128 failed: " + std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

std::optional<ProxyClient> accept_proxy_client(int listener) {
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char addr[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof addr);
  return ProxyClient{fd, std::string(addr) + ":" + std::to_string(ntohs(peer.sin_port))};
}

void send_proxy_refusal(int fd, const std::string& reason, bool retry) {
  std::string body = "sbx: " + reason + "\n";
  std::string resp = std::string(retry ? "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n" : "HTTP/1.1 502 Bad Gateway\r\n") +
                     "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nConnection: close\r\n\r\n" + body;
  [[maybe_unused]] auto w = ::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Session::Impl::accept_proxy(int listener) {
  auto client = accept_proxy_client(listener);
  if (!client) return;
  if (streams_.size() >= kMaxStreams) {
    ::close(client->fd);
    return;
  }
  while (streams_.count(next_guest_id_) || next_guest_id_ == 0) next_guest_id_ += 2;
  std::uint32_t id = next_guest_id_;
  next_guest_id_ += 2;
  Stream s;
  s.id = id;
  s.kind = p::OpenKind::proxy;
  s.in_fd = s.out_fd[0] = client->fd;
  s.shared = true;
  s.out_eof[0] = false;
  s.open_pending = true;
  streams_.emplace(id, s);
  p::Open o;
  o.kind = p::OpenKind::proxy;
  o.destination.learned = "http-proxy";
  o.client = client->address;
  send(p::open_frame(id, o));
}

}  // namespace sbx::guest::agent
