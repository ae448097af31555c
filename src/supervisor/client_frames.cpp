#include <algorithm>
#include <sys/socket.h>

#include "supervisor/client.h"
#include "supervisor/sandbox_supervisor.h"

namespace sbx::supervisor {

namespace {
constexpr size_t kMaxQueued = 8u << 20;          // a client that stops reading is dropped
}  // namespace

void Supervisor::answer_egress_waiters(const std::vector<int>& clients, const std::string& error) {
  if (error.empty() && !state_write_error_.empty()) write_state_now();
  for (int id : clients) {
    if (!error.empty()) send_client(id, proto::error_frame(error));
    else if (!state_write_error_.empty()) send_client(id, proto::error_frame(state_write_error_));
    else send_client(id, Frame{FrameType::pong, 0, 0, kEgressRestartPing});
  }
}

void Supervisor::send_client(int id, const Frame& f) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second.dead) return;
  proto::encode_to(it->second.out, f);
  if (it->second.out.size() > kMaxQueued) it->second.dead = true;
}

void Supervisor::accept_clients() {
  for (;;) {
    const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    ClientConn c;
    c.fd.reset(fd);
    conns_.emplace(next_conn_++, std::move(c));
  }
}

void Supervisor::on_client_gone(int id) {
  for (const std::uint32_t gid : router_.drop_client(id))
    if (chan_) send_guest(proto::empty_frame(FrameType::close, gid));  // the guest kills the process
  egress_.forget(id);
}

void Supervisor::on_client_frame(int id, Frame f) {
  ClientConn& c = conns_.at(id);
  if (f.stream == 0) {
    switch (f.type) {
      case FrameType::ping:
        if (f.payload == kEgressRestartPing) {
          if (!launch_.egress.enabled) {
            send_client(id, proto::error_frame("this sandbox runs without an egress proxy"));
            return;
          }
          return egress_.wait_until_ready(id);
        }
        if (!state_write_error_.empty()) write_state_now();  // space may have been freed since
        if (!ready_) c.waiting_ready = f.payload;
        else if (!state_write_error_.empty()) send_client(id, proto::error_frame(state_write_error_));
        else send_client(id, Frame{FrameType::pong, 0, 0, f.payload});
        return;
      case FrameType::shutdown:
        c.wants_stop = true;
        begin_stop("requested by a client");
        return;
      default:
        send_client(id, proto::error_frame("unexpected " + std::string(proto::type_name(f.type)) + " from a client"));
        c.dead = true;
        return;
    }
  }
  if (f.type == FrameType::open) {
    auto open = proto::parse_open(f.payload);
    if (!open || (open->kind != proto::OpenKind::exec && open->kind != proto::OpenKind::shell)) {
      send_client(id, proto::open_fail_frame(f.stream, {open ? "only exec and shell streams can be opened" : open.error().message, {}}));
      return;
    }
    if (!ready_ || stopping_) {
      send_client(id, proto::open_fail_frame(f.stream, {stopping_ ? "the sandbox is stopping" : "the sandbox is not ready yet", {}}));
      return;
    }
    RouteRefusal why{};
    const auto gid = router_.open_for_client(id, f.stream, &why);
    if (!gid && why == RouteRefusal::id_in_use) {
      send_client(id, proto::error_frame("stream id already in use"));
      c.dead = true;
      return;
    }
    if (!gid) {
      ++state_.budgets.routes.refused;
      if (route_refusal_.first(router_.size(), budgets_.routes))
        log_->warn("{} streams are open, the sandbox's budget: new exec and shell streams are refused", router_.size());
      send_client(id, proto::open_fail_frame(f.stream, {"the sandbox has " + std::to_string(router_.size()) +
                                                            " streams open, its limit: end some and try again", {}}));
      return;
    }
    f.stream = *gid;
    send_guest(f);
    return;
  }
  const auto gid = router_.guest_stream(id, f.stream);
  if (!gid) return;  // frames on unknown ids race with CLOSE: ignored (PROTOCOL.md)
  const Route& r = router_.find(*gid)->second;
  switch (f.type) {
    case FrameType::data: case FrameType::window: case FrameType::eof:
    case FrameType::signal: case FrameType::resize:
      if (r.host_closed) return;
      f.stream = *gid;
      send_guest(f);
      return;
    case FrameType::close:
      if (!r.host_closed) send_guest(proto::empty_frame(FrameType::close, *gid));
      router_.erase(*gid);  // the client is done with it (see on_client_gone)
      return;
    default:
      send_client(id, proto::error_frame("unexpected " + std::string(proto::type_name(f.type)) + " from a client"));
      c.dead = true;
      return;
  }
}

}  // namespace sbx::supervisor
