#include "supervisor/port_forward.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/escape.h"
#include "config/port_rules.h"
#include "guest/protocol/messages.h"

namespace sbx::supervisor {
namespace proto = sbx::guest::protocol;
using proto::Frame;
using proto::FrameType;

namespace {
constexpr int kAcceptsPerTurn = 32;  // a burst of connections cannot starve the guest channel
constexpr int kBacklog = 128;
}  // namespace

Result<vmm::Fd> listen_tcp(const std::string& address, std::uint16_t port) {
  const std::string where = config::endpoint_text(address, port);
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&ss); ::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss); ::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    return fail(ErrorCode::invalid, "cannot forward " + where + ": not an IP address", "write host = \"127.0.0.1:PORT\"");
  }
  vmm::Fd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fail(ErrorCode::io, "cannot forward " + where + ": socket: " + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    const int err = errno;
    if (err == EADDRINUSE)
      return fail(ErrorCode::runtime, "host port " + where + " is already in use",
                  "stop the program listening there (ss -ltnp 'sport = :" + std::to_string(port) +
                      "' shows it), or forward another host port in [[port]], e.g. host = " + std::to_string(port == 65535 ? 1024 : port + 1));
    if (err == EACCES)
      return fail(ErrorCode::runtime, "cannot listen on " + where + ": ports below 1024 need root",
                  "forward a host port of 1024 or above, e.g. host = " + std::to_string(port + 8000));
    if (err == EADDRNOTAVAIL)
      return fail(ErrorCode::runtime, "cannot listen on " + where + ": this host has no such address",
                  "write an address of this host, or leave it out (127.0.0.1)");
    return fail(ErrorCode::runtime, "cannot listen on " + where + ": " + std::strerror(err));
  }
  if (::listen(fd.get(), kBacklog) != 0) return fail(ErrorCode::runtime, "cannot listen on " + where + ": " + std::strerror(errno));
  return fd;
}

Result<void> PortForwarder::listen() {
  std::vector<Listener> bound;
  for (const auto& p : ports_) {
    auto fd = listen_tcp(p.address, p.host_port);
    if (!fd) return std::unexpected(fd.error());  // `bound` closes what was opened
    bound.push_back({p, std::move(*fd)});
  }
  listeners_ = std::move(bound);
  for (const auto& l : listeners_)
    log_->info("forwarding {} to port {} in the guest", config::endpoint_text(l.port.address, l.port.host_port), l.port.guest_port);
  return {};
}

void PortForwarder::close() {
  listeners_.clear();
  reset();
}

void PortForwarder::reset() {
  pending_.clear();
  bridges_.clear();
  listener_slots_.clear();
  bridge_slots_.clear();
}

void PortForwarder::add_to_poll(PollSet& set, bool accepting, bool channel_room) {
  listener_slots_.clear();
  bridge_slots_.clear();
  if (accepting)
    for (std::size_t i = 0; i < listeners_.size(); ++i) listener_slots_.emplace_back(i, set.add(listeners_[i].fd.get(), POLLIN));
  for (auto& [sid, b] : bridges_)
    if (const short ev = b.events(channel_room); ev != 0) bridge_slots_.emplace_back(sid, set.add(b.fd(), ev));
}

void PortForwarder::on_poll(const PollSet& set, const std::function<std::uint32_t()>& next_id, const Emit& emit) {
  for (const auto& [i, slot] : listener_slots_)
    if (i < listeners_.size() && set.has(slot, POLLIN)) accept_from(listeners_[i], next_id, emit);
  for (const auto& [sid, slot] : bridge_slots_) {
    auto b = bridges_.find(sid);
    if (b == bridges_.end() || !set.revents(slot)) continue;
    b->second.on_events(set.revents(slot), emit);
    if (b->second.finished()) bridges_.erase(b);
  }
  listener_slots_.clear();
  bridge_slots_.clear();
}

void PortForwarder::accept_from(Listener& l, const std::function<std::uint32_t()>& next_id, const Emit& emit) {
  for (int i = 0; i < kAcceptsPerTurn; ++i) {
    vmm::Fd conn(::accept4(l.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!conn) return;  // EAGAIN: no more for now (or a transient error: the next turn tries again)
    if (connections() >= budget_) {
      ++refused_;
      if (refusal_.first(connections(), budget_))
        log_->warn("{} forwarded connections are open, the sandbox's budget: new ones are closed at once", connections());
      continue;  // `conn` closes
    }
    const std::uint32_t id = next_id();
    proto::Open o;
    o.kind = proto::OpenKind::port;
    o.guest_port = l.port.guest_port;
    emit(proto::open_frame(id, o));
    pending_.emplace(id, Pending{std::move(conn), l.port.guest_port});
  }
}

bool PortForwarder::on_guest_frame(const Frame& f, const Emit& emit) {
  if (auto b = bridges_.find(f.stream); b != bridges_.end()) {
    b->second.on_guest_frame(f, emit);
    if (b->second.finished()) bridges_.erase(b);
    return true;
  }
  auto p = pending_.find(f.stream);
  if (p == pending_.end()) return false;
  switch (f.type) {
    case FrameType::open_ok:
      bridges_.emplace(f.stream, StreamBridge(f.stream, std::move(p->second.fd)));
      pending_.erase(p);
      return true;
    case FrameType::open_fail: {
      auto why = proto::parse_open_fail(f.payload);
      log_->info("a connection forwarded to port {} was refused by the guest: {}", p->second.guest_port,
                 text::escape_for_terminal(why ? why->reason : std::string("(no reason)")));
      pending_.erase(p);  // the host client sees the connection close
      return true;
    }
    case FrameType::close:
      emit(proto::empty_frame(FrameType::close, f.stream));
      pending_.erase(p);
      return true;
    default:
      return true;  // nothing else is meaningful before OPEN_OK: ignored
  }
}

}  // namespace sbx::supervisor
