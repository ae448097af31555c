// The channel: connection and session state, HELLO and CONFIG, frame dispatch, and the poll
// loop that drives every other piece (see session_impl.h).
#include "guest/agent/session.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "guest/agent/boot.h"
#include "guest/agent/local_dirs.h"
#include "guest/agent/ca_trust.h"
#include "guest/agent/console.h"
#include "guest/agent/etc_hosts.h"
#include "guest/agent/pid1.h"
#include "guest/agent/proxy_listener.h"
#include "guest/agent/session_impl.h"
#include "common/errno_text.h"

#ifndef SBX_VERSION
#define SBX_VERSION "0.0.0"
#endif

namespace sbx::guest::agent {
namespace p = sbx::guest::protocol;

namespace {
constexpr int kDisconnectedPollMs = 20;
constexpr int kDrainingPollMs = 50;
// An empty HELLO from the host: the one sequence recognised while a session is broken.
const std::string kHostHello = p::encode(p::Frame{p::FrameType::hello, 0, 0, {}});

}  // namespace

Session::Session(std::string port_path, p::BootTiming timing, int signal_fd)
    : impl_(std::make_unique<Impl>(std::move(port_path), timing, signal_fd)) {}

Session::~Session() = default;

void Session::run() { impl_->run(); }

Session::Impl::Impl(std::string port_path, p::BootTiming timing, int signal_fd)
    : port_path_(std::move(port_path)), signal_fd_(signal_fd), timing_(timing) {
  port_ = ::open(port_path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (port_ < 0) say("cannot open " + port_path_ + ": " + errno_text());
  listener_ = open_proxy_listener(nullptr);
}

std::map<std::string, std::string> Session::Impl::base_env() const {
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
      {"LANG", "C.UTF-8"},
  };
  if (config_.hostname) env["HOSTNAME"] = *config_.hostname;
  if (config_.proxy) {
    std::string url = "http://127.0.0.1:" + std::to_string(p::kProxyPort);
    for (const char* k : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) env[k] = url;
    env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1,::1";
  }
  if (ca_trusted_) add_ca_env(env);
  for (const auto& [k, v] : config_.env) env[k] = v;
  return env;
}

void Session::Impl::send(const p::Frame& f) {
  if (!connected_) return;
  try {
    p::encode_to(out_buf_, f);
  } catch (const std::exception& e) {
    // An invalid frame is our bug; PID 1 must not die of it (that panics the kernel).
    say(std::string("internal error, frame dropped: ") + e.what());
    return;
  }
  flush_port();
}

void Session::Impl::flush_port(bool block) {
  std::int64_t deadline = uptime_ms() + 1000;
  while (!out_buf_.empty() && connected_) {
    ssize_t n = ::write(port_, out_buf_.data(), out_buf_.size());
    if (n > 0) {
      out_buf_.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && block && uptime_ms() < deadline) {
      pollfd pfd{port_, POLLOUT, 0};
      ::poll(&pfd, 1, 50);
      continue;
    }
    return;
  }
}

void Session::Impl::protocol_error(const std::string& why) {
  say("protocol error from host: " + why + "; ending the session");
  send(p::error_frame(why));
  poisoned_ = true;
  abort_all();
}

void Session::Impl::on_connected() {
  connected_ = true;
  decoder_ = p::Decoder();
  out_buf_.clear();
  start_session();
}

void Session::Impl::start_session() {
  poisoned_ = false;
  scan_.clear();
  abort_all();
  p::Hello h;
  h.agent = std::string("sbx-guest ") + SBX_VERSION;
  utsname u{};
  if (::uname(&u) == 0) h.kernel = u.release;
  h.reconnect = sessions_ > 0;
  h.boot = timing_;
  h.boot.uptime_ms = uptime_ms();
  ++sessions_;
  say(std::string("host connected; sending HELLO (session ") + std::to_string(sessions_) + ")");
  send(p::hello_frame(h));
  fresh_ = true;
}

void Session::Impl::on_disconnected() {
  say("host disconnected; closing every stream and waiting for a new connection");
  connected_ = false;
  out_buf_.clear();
  abort_all();
}

void Session::Impl::read_port() {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(port_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN: drained
    if (n == 0) {
      on_disconnected();
      return;
    }
    std::string_view bytes(buf, static_cast<std::size_t>(n));
    if (poisoned_) {
      // Discard input until the host asks for a new session with an empty host HELLO.
      scan_.append(bytes);
      auto at = scan_.find(kHostHello);
      if (at == std::string::npos) {
        if (scan_.size() > kHostHello.size()) scan_.erase(0, scan_.size() - kHostHello.size());
        continue;
      }
      std::string rest = scan_.substr(at + kHostHello.size());
      say("host requested a new session");
      decoder_ = p::Decoder();
      start_session();
      decoder_.feed(rest);
    } else {
      decoder_.feed(bytes);
    }
    while (auto f = decoder_.next()) {
      handle(std::move(*f));
      if (poisoned_ || !connected_) break;
    }
    if (decoder_.failed() && !poisoned_) protocol_error(decoder_.error());
    if (!connected_) return;
  }
}

void Session::Impl::handle(p::Frame f) {
  if (f.type == p::FrameType::hello) {
    // The host (re)starts the session; redundant right after our own HELLO.
    if (!fresh_) {
      say("host requested a new session");
      start_session();
    }
    return;
  }
  fresh_ = false;
  switch (f.type) {
    case p::FrameType::config:
      return handle_config(f);
    case p::FrameType::open:
      return handle_open(f);
    case p::FrameType::ping:
      return send(p::Frame{p::FrameType::pong, 0, 0, f.payload});
    case p::FrameType::pong:
      return;
    case p::FrameType::shutdown: {
      bool reboot = !f.payload.empty() && f.payload.find("true") != std::string::npos;
      if (!f.payload.empty()) {
        // Validate the optional JSON strictly; anything else is a protocol error.
        if (f.payload != R"({"reboot":true})" && f.payload != R"({"reboot":false})" &&
            f.payload != R"({"reboot": true})" && f.payload != R"({"reboot": false})")
          return protocol_error("SHUTDOWN payload must be empty or {\"reboot\": bool}");
      }
      shutdown(reboot);
    }
    case p::FrameType::error:
      say("host reported an error: " + p::parse_error_message(f.payload));
      poisoned_ = true;
      abort_all();
      return;
    case p::FrameType::ready:
    case p::FrameType::exit:
      return protocol_error(std::string(p::type_name(f.type)) + " is sent by the guest, not the host");
    default:
      break;
  }
  auto it = streams_.find(f.stream);
  if (it == streams_.end()) return;  // may race with our CLOSE: ignore
  handle_stream_frame(it->second, f);
}

void Session::Impl::handle_config(const p::Frame& f) {
  auto cfg = p::parse_config(f.payload);
  if (!cfg) return protocol_error("bad CONFIG: " + cfg.error().message);
  config_ = *cfg;
  p::Ready ready;
  if (config_.hostname) {
    set_hostname(*config_.hostname);
    if (auto err = name_host_in_hosts(*config_.hostname); !err.empty()) say(err);  // sudo warns without it
  }
  for (const auto& m : config_.mounts) {
    if (mounted_.count(m.target)) continue;
    auto err = mount_share(m);
    if (err.empty()) {
      mounted_.insert(m.target);
      say("mounted virtio-fs " + m.tag + " on " + m.target + (m.readonly ? " (read-only)" : ""));
      if (auto local = mount_local_dirs(m); !local.empty()) ready.errors.push_back(local);
    } else {
      say(err);
      ready.errors.push_back(err);
    }
  }
  if (config_.ca_certificate) {
    auto err = install_ca(*config_.ca_certificate);
    ca_trusted_ = err.empty();
    if (ca_trusted_) say(std::string("trusting the egress proxy's CA (") + kCaBundle + ")");
    else {
      say(err);
      ready.errors.push_back(err);
    }
  } else {
    ca_trusted_ = false;
  }
  ready.ok = ready.errors.empty();
  say("configured; sending READY");
  send(p::ready_frame(ready));
  if (config_.docker && !docker_.started) {
    // Containers reach the egress proxy through a listener on the docker bridge's address.
    if (bridge_listener_ < 0 && config_.proxy) bridge_listener_ = open_proxy_listener(kDockerBridgeAddress);
    start_dockerd(docker_, base_env(), config_.docker_insecure_registries);
  }
}

void Session::Impl::handle_signal() {
  if (read_signals(signal_fd_)) shutdown(false);
  reap_children([this](pid_t pid, int status) { on_child_exit(pid, status); });
}

void Session::Impl::shutdown(bool reboot) {
  say("shutdown requested");
  send(p::empty_frame(p::FrameType::shutdown, 0));
  flush_port(true);
  end_processes_and_power_off(reboot);
}

void Session::Impl::loop() {
  if (port_ < 0) {
    say("no channel; the guest cannot be controlled");
    for (;;) {
      ::pause();
    }
  }
  while (true) {
    if (!connected_) {
      char probe;
      ssize_t n = ::read(port_, &probe, 1);
      if (n < 0 && errno == EAGAIN) {
        on_connected();
      } else if (n > 0) {
        // Data before HELLO breaks the protocol's order; start a session and treat it as input.
        on_connected();
        decoder_.feed(&probe, 1);
      }
    }
    PollSet set;
    set.add(signal_fd_, POLLIN, {PollRole::signals});
    // dockerd's log is read whether or not a host is connected: a full pipe would stall it.
    if (docker_.log_fd >= 0) set.add(docker_.log_fd, POLLIN, {PollRole::docker_log});
    if (connected_) {
      set.add(port_, static_cast<short>(POLLIN | (out_buf_.empty() ? 0 : POLLOUT)), {PollRole::port});
      if (listener_ >= 0 && !poisoned_) set.add(listener_, POLLIN, {PollRole::proxy_listener});
      if (bridge_listener_ >= 0 && !poisoned_) set.add(bridge_listener_, POLLIN, {PollRole::proxy_listener});
    }
    bool draining = poll_streams(set);
    int timeout = !connected_ ? kDisconnectedPollMs : draining ? kDrainingPollMs : -1;
    if (docker_.started && !docker_.ready && !docker_.failed && (timeout < 0 || timeout > 1000)) timeout = 1000;
    int n = ::poll(set.fds.data(), set.fds.size(), timeout);
    if (n < 0 && errno != EINTR) say("poll failed: " + errno_text());
    for (std::size_t i = 0; n > 0 && i < set.fds.size(); ++i) {
      short re = set.fds[i].revents;
      if (!re) continue;
      const auto& t = set.targets[i];
      if (t.role == PollRole::signals) {
        handle_signal();
      } else if (t.role == PollRole::port) {
        if (re & POLLOUT) flush_port();
        if (re & (POLLIN | POLLHUP | POLLERR)) read_port();
        if (!connected_) break;  // every stream is gone
      } else if (t.role == PollRole::proxy_listener) {
        accept_proxy(set.fds[i].fd);
      } else if (t.role == PollRole::docker_log) {
        read_dockerd_log(docker_);
      } else if (t.role == PollRole::connecting) {
        finish_connect(t.stream);
      } else if (t.role == PollRole::stream_in) {
        write_in(t.stream);
      } else {
        if ((re & POLLOUT) && streams_.count(t.stream)) write_in(t.stream);
        if (re & (POLLIN | POLLHUP | POLLERR)) read_out(t.stream, t.channel);
      }
    }
    tick();
    check_dockerd(docker_);
  }
}

void Session::Impl::run() {
  while (true) {
    try {
      loop();
    } catch (const std::exception& e) {
      // PID 1 must never exit: report, drop the session, and carry on.
      say(std::string("internal error: ") + e.what() + "; resetting the session");
      if (connected_) {
        send(p::error_frame(std::string("guest internal error: ") + e.what()));
        poisoned_ = true;
        abort_all();
      }
    }
  }
}

}  // namespace sbx::guest::agent
