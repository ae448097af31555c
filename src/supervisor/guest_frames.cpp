#include <cerrno>
#include <unistd.h>

#include "common/escape.h"
#include "supervisor/env_secrets.h"
#include "supervisor/sandbox_supervisor.h"

namespace sbx::supervisor {
using namespace std::chrono;

void Supervisor::send_config() {
  config_pending_ = false;
  proto::Config cfg = launch_.guest_config;
  // [egress] trust_host_ca: the CAs the host's administrator added (checked PEM, by sbx up).
  if (!launch_.host_ca_pem.empty()) cfg.ca_certificate = launch_.host_ca_pem;
  if (launch_.egress.trust_ca) {
    auto pem = read_small_file(paths_.ca_certificate());
    if (pem && !pem->empty()) {
      std::string both = *pem;
      if (!both.empty() && both.back() != '\n') both += '\n';
      cfg.ca_certificate = both + cfg.ca_certificate.value_or("");
    } else {
      const std::string w = "the guest does not trust the egress proxy's CA (" + paths_.ca_certificate().string() +
                            " is missing): HTTPS to hosts with header secrets will fail";
      log_->warn("{}", w);
      state_.warnings.push_back(w);
    }
  }
  std::vector<std::string> problems;
  Frame frame = config_with_env_secrets(std::move(cfg), launch_.env_secrets, problems);
  for (const auto& p : problems) {
    log_->warn("{}", p);
    state_.warnings.push_back(p);
  }
  send_guest(frame);
  wipe(frame.payload);  // (the encoded copy in chan_out_ is not wiped: THREAT_MODEL.md says so)
}

void Supervisor::open_proxy_stream(std::uint32_t stream, const proto::Open& open) {
  if (!launch_.egress.enabled) {
    send_guest(proto::open_fail_frame(stream, {"this sandbox was started without an egress proxy", {}}));
    return;
  }
  if (!guest_stream_id_free(stream)) {
    send_guest(proto::open_fail_frame(stream, {"stream id " + std::to_string(stream) + " is not a free guest (even) id", {}}));
    return;
  }
  if (bridges_.size() >= budgets_.proxy_streams) {
    if (proxy_refusal_.first(bridges_.size(), budgets_.proxy_streams))
      log_->warn("the guest holds {} egress connections, its budget: new ones are refused", bridges_.size());
    return refuse_guest_open(stream, state_.budgets.proxy_streams.refused,
                             "the sandbox has " + std::to_string(bridges_.size()) +
                                 " egress connections open, its limit: close some and try again", true);
  }
  auto sock = egress_.open_stream({launch_.name, open.destination, open.client});
  if (!sock) {
    send_guest(proto::open_fail_frame(stream, {sock.error().reason, {}, sock.error().retry}));
    return;
  }
  bridges_.emplace(stream, StreamBridge(stream, std::move(*sock)));
  send_guest(proto::open_ok_frame(stream, {}));
}

void Supervisor::refuse_guest_open(std::uint32_t stream, std::uint64_t& refused, const std::string& reason, bool retry) {
  ++refused;
  send_guest(proto::open_fail_frame(stream, {reason, {}, retry}));
}

bool Supervisor::guest_stream_id_free(std::uint32_t stream) const {
  return stream != 0 && stream % 2 == 0 && !router_.contains(stream) && !bridges_.count(stream);
}

void Supervisor::read_console() {
  char buf[65536];
  for (int i = 0; i < 4 && console_; ++i) {  // at most 256 KiB a turn: the console cannot starve the rest
    const ssize_t n = ::read(console_.get(), buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      console_.reset();  // QEMU is exiting
      return;
    }
    if (!console_log_->append(std::string_view(buf, static_cast<size_t>(n))) && !console_write_logged_) {
      console_write_logged_ = true;
      log_->error("console output is dropped: {}", console_log_->error());
    }
    if (launch_.guest_config.docker && docker_watch_.feed(std::string_view(buf, static_cast<size_t>(n)))) {
      const auto& r = *docker_watch_.last();
      state_.docker_state = r.state;
      state_.docker_detail = r.detail;
      if (r.state == "failed") log_->warn("docker: the daemon in the guest failed: {}", text::escape_for_terminal(r.detail));
      else log_->info("docker: the daemon in the guest is {}{}{}", r.state, r.detail.empty() ? "" : ": ", text::escape_for_terminal(r.detail));
      write_state_now();
    }
  }
}

void Supervisor::on_guest_frame(Frame f) {
  switch (f.type) {
    case FrameType::hello: {
      auto hello = proto::parse_hello(f.payload);
      if (!hello) return finish(Phase::crashed, "the guest agent sent a malformed HELLO: " + hello.error().message);
      if (hello->protocol != proto::kProtocolVersion)
        return finish(Phase::crashed, "the guest agent speaks protocol " + std::to_string(hello->protocol) +
                                          ", this sbx speaks " + std::to_string(proto::kProtocolVersion));
      hello_ = true;
      state_.guest_uptime_ms = hello->boot.uptime_ms;
      log_->info("guest agent {} said hello (kernel {}, uptime {} ms)", text::escape_for_terminal(hello->agent),
                 text::escape_for_terminal(hello->kernel), hello->boot.uptime_ms);
      bridges_.clear();  // a new session: the guest dropped every stream
      ports_.reset();
      // The CA the guest must trust exists once the proxy is ready; CONFIG waits for that.
      if (launch_.egress.trust_ca && egress_.alive() && !egress_.ready()) config_pending_ = true;
      else send_config();
      return;
    }
    case FrameType::ready: {
      auto ready = proto::parse_ready(f.payload);
      if (!ready) return finish(Phase::crashed, "the guest agent sent a malformed READY: " + ready.error().message);
      for (const auto& e : ready->errors) {
        log_->warn("guest setup: {}", text::escape_for_terminal(e));
        state_.warnings.push_back(e);
      }
      ready_ = true;
      state_.phase = Phase::ready;
      state_.ready_ms = duration_cast<milliseconds>(steady_clock::now() - t0_).count();
      write_state_now();
      log_->info("sandbox ready after {} ms", state_.ready_ms);
      for (auto& [id, c] : conns_)
        if (c.waiting_ready) {
          // Ready but unrecorded is not ready: 'sbx status' would disagree with 'sbx up'.
          if (!state_write_error_.empty()) send_client(id, proto::error_frame(state_write_error_));
          else send_client(id, Frame{FrameType::pong, 0, 0, *c.waiting_ready});
          c.waiting_ready.reset();
        }
      return;
    }
    case FrameType::ping: send_guest(Frame{FrameType::pong, 0, 0, f.payload}); return;
    case FrameType::pong: return;
    case FrameType::shutdown: log_->info("guest acknowledged shutdown"); return;
    case FrameType::error:
      return finish(Phase::crashed, "the guest agent reported a protocol error: " + proto::parse_error_message(f.payload));
    case FrameType::open: {
      // Guest-opened streams: proxy connections and log streams.
      auto open = proto::parse_open(f.payload);
      if (open && open->kind == proto::OpenKind::log) {
        if (!guest_stream_id_free(f.stream)) {
          send_guest(proto::open_fail_frame(f.stream, {"stream id " + std::to_string(f.stream) + " is not a free guest (even) id", {}}));
          return;
        }
        const std::size_t held = router_.log_streams();
        if (held >= budgets_.log_streams || !router_.open_guest_log(f.stream, proto::kInitialWindow)) {
          if (log_refusal_.first(held, budgets_.log_streams))
            log_->warn("the guest holds {} log streams, its budget: new ones are refused", held);
          return refuse_guest_open(f.stream, state_.budgets.log_streams.refused,
                                   "the guest has " + std::to_string(held) + " log streams open, its limit");
        }
        send_guest(proto::open_ok_frame(f.stream, {}));
        return;
      }
      if (open && open->kind == proto::OpenKind::proxy) return open_proxy_stream(f.stream, *open);
      if (open && open->kind == proto::OpenKind::port) {
        // Port streams go host -> guest only: a guest asking for one would have the host connect
        // somewhere on its behalf. Refused (OPEN_FAIL below) and logged once.
        if (!guest_port_logged_) log_->warn("the guest tried to open a port stream; only the host opens them: refused");
        guest_port_logged_ = true;
      }
      const std::string reason = open ? "only proxy and log streams may be opened by the guest" : open.error().message;
      send_guest(proto::open_fail_frame(f.stream, {reason, {}}));
      return;
    }
    default: break;
  }
  if (ports_.on_guest_frame(f, [this](const Frame& out) { send_guest(out); })) return;
  if (auto b = bridges_.find(f.stream); b != bridges_.end()) {
    b->second.on_guest_frame(f, [this](const Frame& out) { send_guest(out); });
    if (b->second.finished()) bridges_.erase(b);
    return;
  }
  auto it = router_.find(f.stream);
  if (it == router_.end()) return;
  Route& r = it->second;
  if (r.owner == RouteOwner::guest_log) return on_guest_log_frame(it, f);
  const bool ends = f.type == FrameType::close || f.type == FrameType::open_fail;
  if (f.type == FrameType::close && !r.host_closed) send_guest(proto::empty_frame(FrameType::close, f.stream));
  const int conn = r.conn;
  f.stream = r.client_stream;
  if (ends) router_.erase(it);
  send_client(conn, f);
}

void Supervisor::on_guest_log_frame(StreamRouter::Map::iterator it, const Frame& f) {
  Route& r = it->second;
  const auto end_stream = [&] {
    if (!r.host_closed) send_guest(proto::empty_frame(FrameType::close, f.stream));
    router_.erase(it);
  };
  if (f.type == FrameType::close) return end_stream();
  if (f.type != FrameType::data || r.host_closed) return;
  if (f.payload.size() > r.credit) {
    // Past its window: the guest ignores flow control. Drop the bytes, end the stream.
    log_overrun_bytes_ += f.payload.size();
    if (!log_overrun_logged_) log_->warn("guest log stream {} sent past its window; its output is dropped and the stream closed", f.stream);
    log_overrun_logged_ = true;
    return end_stream();
  }
  r.credit -= static_cast<std::uint32_t>(f.payload.size());
  if (!guest_log_->append(f.payload) && !log_write_logged_) {
    log_write_logged_ = true;
    log_->error("guest log output is dropped: {}", guest_log_->error());
  }
  r.credit += static_cast<std::uint32_t>(f.payload.size());
  send_guest(proto::window_frame(f.stream, static_cast<std::uint32_t>(f.payload.size())));
}

}  // namespace sbx::supervisor
