#include "proxy/transparent.h"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <set>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "common/log.h"
#include "proxy/address.h"
#include "proxy/http_parser.h"
#include "proxy/proxy.h"
#include "proxy/tls_sni.h"

namespace sbx::proxy {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxFirstBytes = 16 * 1024;
// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>, which clash with
// glibc's <netinet/in.h>: the original destination of a NATed (redirected) socket.
constexpr int kSoOriginalDst = 80;
constexpr int kIp6tSoOriginalDst = 80;

struct Destination {
  IpAddress address;
  std::uint16_t port;
};

// Where the client meant to go before the REDIRECT rewrote it.
std::optional<Destination> original_destination(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockopt(fd, SOL_IP, kSoOriginalDst, &ss, &len) != 0) {
    len = sizeof ss;
    if (::getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, &ss, &len) != 0) return std::nullopt;
  }
  auto ip = IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  if (!ip) return std::nullopt;
  const auto port = ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                            : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port;
  return Destination{*ip, ntohs(port)};
}

std::optional<std::uint16_t> local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

// Wait for `fd` to be readable until `deadline`; false on timeout or error.
bool wait_readable(int fd, Clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Copy both ways until both sides are done or nothing moves for `idle`.
void relay(int a, int b, std::chrono::milliseconds idle) {
  bool a_open = true, b_open = true;
  char buf[16 * 1024];
  while (a_open || b_open) {
    pollfd p[2] = {{a, static_cast<short>(a_open ? POLLIN : 0), 0}, {b, static_cast<short>(b_open ? POLLIN : 0), 0}};
    const int n = ::poll(p, 2, static_cast<int>(idle.count()));
    if (n == 0) return;
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int from = i == 0 ? a : b, to = i == 0 ? b : a;
      const ssize_t r = ::recv(from, buf, sizeof buf, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        (i == 0 ? a_open : b_open) = false;
        ::shutdown(to, SHUT_WR);
        if (r < 0) return;
        continue;
      }
      if (!write_all(to, {buf, static_cast<size_t>(r)})) return;
    }
  }
}

std::string connect_target(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

FirstBytes host_from_first_bytes(std::string_view data) {
  std::string sni;
  switch (peek_client_hello(data, sni)) {
    case HelloStatus::sni: return {true, sni};
    case HelloStatus::need_more: return {data.size() >= kMaxFirstBytes, ""};
    case HelloStatus::no_sni:
    case HelloStatus::malformed: return {true, ""};
    case HelloStatus::not_tls: break;
  }
  RequestHead head;
  const auto r = parse_request_head(data, HeadLimits{}, TargetMode::origin, head);
  if (r.status == ParseResult::incomplete) return {data.size() >= kMaxFirstBytes, ""};
  if (r.status == ParseResult::error || head.host_header.empty()) return {true, ""};
  std::string host;
  bool v6 = false;
  std::uint16_t port = 0;
  if (!split_authority(head.host_header, 80, host, v6, port)) return {true, ""};
  return {true, host};
}

struct TransparentListener::Impl {
  Proxy* proxy = nullptr;
  TransparentOptions opt;
  int listen_fd = -1;
  std::uint16_t port = 0;
  std::thread acceptor;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable done;
  std::set<int> clients;  // open client fds, shut down by stop()
  std::shared_ptr<spdlog::logger> log = sbx::log::get("proxy");

  void accept_loop();
  void serve(int client);
};

void TransparentListener::Impl::accept_loop() {
  while (!stopping) {
    const int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (stopping) return;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      return;
    }
    {
      std::lock_guard l(mu);
      if (clients.size() >= opt.max_connections || stopping) {
        ::close(c);
        log->warn("transparent: refused a connection: {} open at once", clients.size());
        continue;
      }
      clients.insert(c);
    }
    std::thread([this, c] { serve(c); }).detach();
  }
}

// Whether the connection points back at this listener (a client that dialled the port itself).
bool loops_back(int fd, const Destination& dst) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return true;
  const auto self = IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  return !self || (*self == dst.address && local_port(fd) == dst.port);
}

void TransparentListener::Impl::serve(int client) {
  const auto dst = original_destination(client);
  std::string first;
  const auto deadline = Clock::now() + opt.hello_timeout;
  FirstBytes named;
  char buf[4096];
  // Without an original destination (no REDIRECT brought it) there is nothing to decide on.
  const bool refuse = !dst || loops_back(client, *dst);
  while (!refuse && !named.complete && first.size() < kMaxFirstBytes && wait_readable(client, deadline)) {
    const ssize_t n = ::recv(client, buf, std::min(sizeof buf, kMaxFirstBytes - first.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    first.append(buf, static_cast<size_t>(n));
    named = host_from_first_bytes(first);
  }
  std::string scratch;
  const bool http = !first.empty() && peek_client_hello(first, scratch) == HelloStatus::not_tls &&
                    first.find(" HTTP/1.") != std::string::npos;
  int pair[2] = {-1, -1};
  if (!refuse && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0) {
    // No name (a protocol without SNI or Host, or a server-first one): ask for the address
    // itself, which the rules refuse unless a CIDR rule allows it.
    const auto target = connect_target(named.host.empty() ? dst->address.str() : named.host, dst->port);
    log->debug("transparent: CONNECT {} (original destination {}:{})", target, dst->address.str(), dst->port);
    proxy->adopt_client(pair[1]);
    std::string head;
    bool ok = write_all(pair[0], "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n");
    while (ok && head.find("\r\n\r\n") == std::string::npos && head.size() < kMaxFirstBytes &&
           wait_readable(pair[0], Clock::now() + opt.hello_timeout)) {
      const ssize_t n = ::recv(pair[0], buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    const auto end = head.find("\r\n\r\n");
    if (ok && end != std::string::npos && head.starts_with("HTTP/1.1 200")) {
      // Whatever followed the 200 belongs to the tunnel.
      if (write_all(client, std::string_view(head).substr(end + 4)) && write_all(pair[0], first))
        relay(client, pair[0], opt.idle_timeout);
    } else if (ok && http && !head.empty()) {
      // An HTTP client reads the proxy's refusal (403 naming the rule and the fix) as its answer.
      ::shutdown(pair[0], SHUT_WR);
      if (write_all(client, head)) relay(pair[0], client, std::chrono::milliseconds(5000));
    }
    ::close(pair[0]);
  }
  std::lock_guard l(mu);
  clients.erase(client);
  ::close(client);
  done.notify_all();  // under the lock: stop() may destroy this object once the set is empty
}

Result<std::unique_ptr<TransparentListener>> TransparentListener::start(Proxy& proxy, std::string_view address,
                                                                       TransparentOptions options) {
  std::string host;
  bool v6 = false;
  std::uint16_t port = 0;
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos || !split_authority(address.substr(0, colon), 1, host, v6, port))
    return fail(ErrorCode::usage, "bad transparent listen address '" + std::string(address) + "'", "write HOST:PORT, e.g. 127.0.0.1:15001");
  unsigned long want = 0;
  for (char ch : address.substr(colon + 1)) {
    if (ch < '0' || ch > '9' || (want = want * 10 + static_cast<unsigned long>(ch - '0')) > 65535)
      return fail(ErrorCode::usage, "bad transparent listen port in '" + std::string(address) + "'");
  }
  auto ip = IpAddress::parse(host);
  if (!ip) return fail(ErrorCode::usage, "transparent listen address must be an IP address, not '" + host + "'");
  sockaddr_storage ss;
  const socklen_t len = ip->to_sockaddr(static_cast<std::uint16_t>(want), ss);
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 1024) != 0) {
    const std::string e = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return fail(ErrorCode::io, "cannot listen on " + std::string(address) + ": " + e, "pick a free port");
  }
  auto impl = std::make_unique<Impl>();
  impl->proxy = &proxy;
  impl->opt = options;
  impl->listen_fd = fd;
  impl->port = local_port(fd).value_or(0);
  impl->log->info("transparent: listening on {}:{}", ip->str(), impl->port);
  auto* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->accept_loop(); });
  return std::unique_ptr<TransparentListener>(new TransparentListener(std::move(impl)));
}

TransparentListener::TransparentListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TransparentListener::~TransparentListener() { stop(); }

std::uint16_t TransparentListener::port() const { return impl_->port; }

void TransparentListener::stop() {
  if (impl_->stopping.exchange(true)) return;
  ::shutdown(impl_->listen_fd, SHUT_RDWR);
  if (impl_->acceptor.joinable()) impl_->acceptor.join();
  ::close(impl_->listen_fd);
  std::unique_lock l(impl_->mu);
  for (int c : impl_->clients) ::shutdown(c, SHUT_RDWR);
  impl_->done.wait(l, [&] { return impl_->clients.empty(); });
}

}  // namespace sbx::proxy
