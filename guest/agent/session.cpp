#include "guest/agent/session.h"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <vector>

#include "guest/agent/boot.h"
#include "guest/agent/ca_trust.h"
#include "guest/agent/console.h"
#include "guest/agent/spawn.h"

#ifndef SBX_VERSION
#define SBX_VERSION "0.0.0"
#endif

namespace sbx::guest::agent {
namespace p = sbx::guest::protocol;

namespace {
constexpr std::size_t kMaxStreams = 1024;
constexpr std::int64_t kDrainGraceMs = 200;
constexpr int kDisconnectedPollMs = 20;
// An empty HELLO from the host: the one sequence recognised while a session is broken.
const std::string kHostHello = p::encode(p::Frame{p::FrameType::hello, 0, 0, {}});

std::string errstr() { return std::strerror(errno); }

int open_listener() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(p::kProxyPort);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    say("proxy listener on 127.0.0.1:3128 failed: " + errstr());
    ::close(fd);
    return -1;
  }
  return fd;
}
}  // namespace

Session::Session(std::string port_path, p::BootTiming timing, int signal_fd)
    : port_path_(std::move(port_path)), signal_fd_(signal_fd), timing_(timing) {
  port_ = ::open(port_path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (port_ < 0) say("cannot open " + port_path_ + ": " + errstr());
  listener_ = open_listener();
}

std::map<std::string, std::string> Session::base_env() const {
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

void Session::send(const p::Frame& f) {
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

void Session::flush_port(bool block) {
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

void Session::protocol_error(const std::string& why) {
  say("protocol error from host: " + why + "; ending the session");
  send(p::error_frame(why));
  poisoned_ = true;
  abort_all();
}

void Session::on_connected() {
  connected_ = true;
  decoder_ = p::Decoder();
  out_buf_.clear();
  start_session();
}

void Session::start_session() {
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

void Session::on_disconnected() {
  say("host disconnected; closing every stream and waiting for a new connection");
  connected_ = false;
  out_buf_.clear();
  abort_all();
}

void Session::abort_all() {
  for (auto& [id, s] : streams_) {
    if (s.pid > 0 && !s.exited) ::kill(-s.pid, SIGKILL);
    s.sent_close = true;
    destroy(s);
  }
  streams_.clear();
}

void Session::destroy(Stream& s) {
  std::set<int> fds = {s.in_fd, s.out_fd[0], s.out_fd[1]};
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
  s.in_fd = s.out_fd[0] = s.out_fd[1] = -1;
}

void Session::read_port() {
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

void Session::handle(p::Frame f) {
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
  Stream& s = it->second;
  switch (f.type) {
    case p::FrameType::open_ok:
      if (!s.open_pending) return protocol_error("OPEN_OK for a stream that is not opening");
      s.open_pending = false;
      return;
    case p::FrameType::open_fail: {
      if (!s.open_pending) return protocol_error("OPEN_FAIL for a stream that is not opening");
      auto fail = p::parse_open_fail(f.payload);
      std::string reason = fail ? fail->reason : "the host refused the connection";
      if (s.kind == p::OpenKind::proxy && s.in_fd >= 0) {
        std::string body = "sbx: " + reason + "\n";
        const bool retry = fail && fail->retry;  // the host's proxy restarts: try again shortly
        std::string resp = std::string(retry ? "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                                             : "HTTP/1.1 502 Bad Gateway\r\n") +
                           "Content-Type: text/plain\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        [[maybe_unused]] auto w = ::send(s.in_fd, resp.data(), resp.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      destroy(s);
      streams_.erase(it);
      return;
    }
    case p::FrameType::data:
      return handle_data(s, f);
    case p::FrameType::window: {
      std::uint64_t w = static_cast<std::uint64_t>(s.send_window) + p::read_u32(f.payload);
      if (w > p::kMaxWindow) return protocol_error("WINDOW grows the send window past 2^31-1");
      s.send_window = static_cast<std::uint32_t>(w);
      return;
    }
    case p::FrameType::eof:
      if (s.host_eof) return protocol_error("second EOF on stream " + std::to_string(s.id));
      s.host_eof = true;
      if (s.in_buf.empty()) close_in(s);
      maybe_finish(s);
      return;
    case p::FrameType::close:
      return handle_close(f.stream);
    case p::FrameType::signal:
      if (s.pid > 0 && !s.exited) ::kill(-s.pid, static_cast<int>(p::read_u32(f.payload)));
      return;
    case p::FrameType::resize:
      if (s.tty && s.in_fd >= 0) {
        auto sz = p::parse_resize(f);
        winsize ws{};
        ws.ws_row = sz.rows;
        ws.ws_col = sz.cols;
        ::ioctl(s.in_fd, TIOCSWINSZ, &ws);
      }
      return;
    default:
      return protocol_error(std::string("unexpected ") + std::string(p::type_name(f.type)));
  }
}

void Session::handle_config(const p::Frame& f) {
  auto cfg = p::parse_config(f.payload);
  if (!cfg) return protocol_error("bad CONFIG: " + cfg.error());
  config_ = *cfg;
  p::Ready ready;
  if (config_.hostname) set_hostname(*config_.hostname);
  for (const auto& m : config_.mounts) {
    if (mounted_.count(m.target)) continue;
    auto err = mount_share(m);
    if (err.empty()) {
      mounted_.insert(m.target);
      say("mounted virtio-fs " + m.tag + " on " + m.target + (m.readonly ? " (read-only)" : ""));
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
}

void Session::handle_open(const p::Frame& f) {
  if (f.stream % 2 == 0) return protocol_error("the host must open odd stream ids");
  if (streams_.count(f.stream)) return protocol_error("OPEN on stream " + std::to_string(f.stream) + ", already open");
  auto req = p::parse_open(f.payload);
  if (!req) return send(p::open_fail_frame(f.stream, {"bad OPEN: " + req.error(), std::nullopt}));
  if (req->kind != p::OpenKind::exec && req->kind != p::OpenKind::shell)
    return send(p::open_fail_frame(
        f.stream, {"the guest does not accept " + std::string(p::kind_name(req->kind)) + " streams", std::nullopt}));
  if (streams_.size() >= kMaxStreams) return send(p::open_fail_frame(f.stream, {"too many open streams", std::nullopt}));
  // An OPEN without user or cwd gets CONFIG's defaults (the Sandboxfile's, else the image's).
  if (req->user.empty()) req->user = config_.user.value_or("agent");
  if (!req->cwd && config_.workdir) req->cwd = config_.workdir;
  Spawned sp = spawn(*req, base_env());
  if (!sp.error.empty()) {
    say("exec " + (req->argv.empty() ? std::string("<shell>") : req->argv[0]) + " failed: " + sp.error);
    return send(p::open_fail_frame(f.stream, {sp.error, sp.err ? std::optional<int>(sp.err) : std::nullopt}));
  }
  Stream s;
  s.id = f.stream;
  s.kind = req->kind;
  s.tty = req->tty;
  s.pid = sp.pid;
  s.in_fd = sp.in_fd;
  s.out_fd[0] = sp.out_fd;
  s.out_fd[1] = sp.err_fd;
  s.shared = req->tty;
  s.out_eof[0] = false;
  s.out_eof[1] = sp.err_fd < 0;
  streams_.emplace(s.id, s);
  send(p::open_ok_frame(f.stream, {sp.pid}));
}

void Session::handle_data(Stream& s, const p::Frame& f) {
  if (f.flags != p::kChannelMain) return protocol_error("the host may send DATA only on sub-channel 0");
  if (s.host_eof) return protocol_error("DATA after EOF on stream " + std::to_string(s.id));
  if (f.payload.size() > s.recv_window)
    return protocol_error("DATA overruns the window on stream " + std::to_string(s.id));
  s.recv_window -= static_cast<std::uint32_t>(f.payload.size());
  if (s.in_fd < 0 || s.in_closed) {
    // Nobody reads it any more: drop it but give the credit back.
    s.recv_window += static_cast<std::uint32_t>(f.payload.size());
    if (!f.payload.empty()) send(p::window_frame(s.id, static_cast<std::uint32_t>(f.payload.size())));
    return;
  }
  s.in_buf += f.payload;
  write_in(s.id);
}

void Session::write_in(std::uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  std::size_t written = 0;
  while (!s.in_buf.empty() && s.in_fd >= 0 && !s.in_closed) {
    ssize_t n = s.kind == p::OpenKind::proxy ? ::send(s.in_fd, s.in_buf.data(), s.in_buf.size(), MSG_NOSIGNAL)
                                             : ::write(s.in_fd, s.in_buf.data(), s.in_buf.size());
    if (n > 0) {
      s.in_buf.erase(0, static_cast<std::size_t>(n));
      written += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    // EPIPE and friends: the reader is gone; drop what is queued.
    written += s.in_buf.size();
    s.in_buf.clear();
    close_in(s);
  }
  if (written > 0) {
    s.recv_window += static_cast<std::uint32_t>(written);
    send(p::window_frame(s.id, static_cast<std::uint32_t>(written)));
  }
  if (s.in_buf.empty() && s.host_eof && !s.in_closed) close_in(s);
  maybe_finish(s);
}

void Session::close_in(Stream& s) {
  if (s.in_closed) return;
  s.in_closed = true;
  if (s.in_fd < 0) return;
  if (s.kind == p::OpenKind::proxy) {
    ::shutdown(s.in_fd, SHUT_WR);
  } else if (s.tty) {
    // A terminal has no half-close: send the EOF character, as typing Ctrl-D would.
    char eof = 4;
    [[maybe_unused]] auto w = ::write(s.in_fd, &eof, 1);
  } else {
    ::close(s.in_fd);
    s.in_fd = -1;
  }
}

void Session::read_out(std::uint32_t id, int channel) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  int fd = s.out_fd[channel];
  if (fd < 0 || s.out_eof[channel]) return;
  char buf[p::kMaxPayload];
  std::size_t want = std::min<std::size_t>(sizeof buf, s.send_window);
  if (want == 0) return;
  ssize_t n = s.kind == p::OpenKind::proxy ? ::recv(fd, buf, want, 0) : ::read(fd, buf, want);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n > 0) {
    s.send_window -= static_cast<std::uint32_t>(n);
    send(p::data_frame(s.id, std::string_view(buf, static_cast<std::size_t>(n)), static_cast<std::uint8_t>(channel)));
    return;
  }
  // 0 = EOF; EIO on a PTY master = every slave fd closed.
  s.out_eof[channel] = true;
  if (!s.shared) {
    ::close(fd);
    s.out_fd[channel] = -1;
  }
  maybe_finish(s);
}

void Session::maybe_finish(Stream& s) {
  if (s.sent_close) return;
  bool out_done = s.out_eof[0] && s.out_eof[1];
  if (s.kind == p::OpenKind::proxy) {
    if (s.open_pending) return;
    if (out_done && !s.sent_eof) {
      send(p::empty_frame(p::FrameType::eof, s.id));
      s.sent_eof = true;
    }
    if (s.sent_eof && s.in_closed && s.in_buf.empty()) {
      send(p::empty_frame(p::FrameType::close, s.id));
      s.sent_close = true;
      destroy(s);
    }
    return;
  }
  if (!s.exited || !out_done) return;
  if (!s.sent_eof) send(p::empty_frame(p::FrameType::eof, s.id));
  s.sent_eof = true;
  send(p::exit_frame(s.id, s.exit_code, s.exit_signal));
  send(p::empty_frame(p::FrameType::close, s.id));
  s.sent_close = true;
  destroy(s);
}

void Session::handle_close(std::uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  if (s.pid > 0 && !s.exited) ::kill(-s.pid, SIGKILL);
  if (!s.sent_close) send(p::empty_frame(p::FrameType::close, id));
  destroy(s);
  streams_.erase(it);
}

void Session::accept_proxy() {
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  int fd = ::accept4(listener_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  if (streams_.size() >= kMaxStreams) {
    ::close(fd);
    return;
  }
  while (streams_.count(next_guest_id_) || next_guest_id_ == 0) next_guest_id_ += 2;
  std::uint32_t id = next_guest_id_;
  next_guest_id_ += 2;
  Stream s;
  s.id = id;
  s.kind = p::OpenKind::proxy;
  s.in_fd = s.out_fd[0] = fd;
  s.shared = true;
  s.out_eof[0] = false;
  s.open_pending = true;
  streams_.emplace(id, s);
  p::Open o;
  o.kind = p::OpenKind::proxy;
  o.destination.learned = "http-proxy";
  char addr[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof addr);
  o.client = std::string(addr) + ":" + std::to_string(ntohs(peer.sin_port));
  send(p::open_frame(id, o));
}

void Session::reap() {
  while (true) {
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) return;
    for (auto& [id, s] : streams_) {
      if (s.pid != pid || s.exited) continue;
      s.exited = true;
      s.exit_at = uptime_ms();
      if (WIFSIGNALED(st)) {
        s.exit_signal = static_cast<std::uint32_t>(WTERMSIG(st));
        s.exit_code = 128 + WTERMSIG(st);
      } else {
        s.exit_code = WEXITSTATUS(st);
      }
      maybe_finish(s);
    }
  }
}

void Session::tick() {
  // After the process exits, output fds still held open by its children (or a PTY with data
  // left) are read until quiet for kDrainGraceMs, then treated as finished.
  std::int64_t now = uptime_ms();
  for (auto& [id, s] : streams_) {
    if (!s.exited || s.sent_close || now - s.exit_at < kDrainGraceMs) continue;
    for (int c = 0; c < 2; ++c) {
      if (s.out_eof[c] || s.out_fd[c] < 0) continue;
      int avail = 0;
      if (::ioctl(s.out_fd[c], FIONREAD, &avail) != 0 || avail == 0) {
        s.out_eof[c] = true;
        if (!s.shared) {
          ::close(s.out_fd[c]);
          s.out_fd[c] = -1;
        }
      }
    }
    maybe_finish(s);
  }
  std::vector<std::uint32_t> done;
  for (auto& [id, s] : streams_)
    if (s.kind == p::OpenKind::proxy && s.sent_close) done.push_back(id);
  (void)done;  // proxy streams wait for the host's CLOSE like every other stream
}

void Session::handle_signal() {
  signalfd_siginfo si{};
  while (::read(signal_fd_, &si, sizeof si) == sizeof si) {
    switch (si.ssi_signo) {
      case SIGCHLD:
        break;
      case SIGTERM:
      case SIGPWR:
      case SIGINT:  // Ctrl-Alt-Del
        say("signal " + std::to_string(si.ssi_signo) + " to PID 1: shutting down");
        shutdown(false);
      default:
        // Forward anything else to every process (not to ourselves).
        ::kill(-1, static_cast<int>(si.ssi_signo));
        break;
    }
  }
  reap();
}

void Session::shutdown(bool reboot) {
  say("shutdown requested");
  send(p::empty_frame(p::FrameType::shutdown, 0));
  flush_port(true);
  ::kill(-1, SIGTERM);
  // Every user process is our descendant (orphans re-parent to PID 1), so ECHILD means none is left.
  for (int i = 0; i < 100; ++i) {
    pid_t r;
    while ((r = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
    }
    if (r < 0 && errno == ECHILD) break;
    ::usleep(10000);
  }
  ::kill(-1, SIGKILL);
  power_off(reboot);
}

void Session::loop() {
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
    std::vector<pollfd> fds;
    std::vector<std::pair<std::uint32_t, int>> roles;  // stream id, role (-1 in, 0/1 out)
    fds.push_back({signal_fd_, POLLIN, 0});
    roles.push_back({0, -10});
    if (connected_) {
      fds.push_back({port_, static_cast<short>(POLLIN | (out_buf_.empty() ? 0 : POLLOUT)), 0});
      roles.push_back({0, -11});
      if (listener_ >= 0 && !poisoned_) {
        fds.push_back({listener_, POLLIN, 0});
        roles.push_back({0, -12});
      }
    }
    bool draining = false;
    for (auto& [id, s] : streams_) {
      if (s.sent_close) continue;
      if (s.exited) draining = true;
      short in_ev = (s.in_fd >= 0 && !s.in_closed && !s.in_buf.empty()) ? POLLOUT : 0;
      for (int c = 0; c < 2; ++c) {
        int fd = s.out_fd[c];
        if (fd < 0 || s.out_eof[c] || s.open_pending || s.send_window == 0) continue;
        short ev = POLLIN;
        if (c == 0 && s.shared) {
          ev |= in_ev;
          in_ev = 0;
        }
        fds.push_back({fd, ev, 0});
        roles.push_back({id, c});
      }
      if (in_ev) {
        fds.push_back({s.in_fd, in_ev, 0});
        roles.push_back({id, -1});
      }
    }
    int timeout = !connected_ ? kDisconnectedPollMs : draining ? 50 : -1;
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) say("poll failed: " + errstr());
    for (std::size_t i = 0; n > 0 && i < fds.size(); ++i) {
      short re = fds[i].revents;
      if (!re) continue;
      auto [id, role] = roles[i];
      if (role == -10) {
        handle_signal();
      } else if (role == -11) {
        if (re & POLLOUT) flush_port();
        if (re & (POLLIN | POLLHUP | POLLERR)) read_port();
        if (!connected_) break;  // every stream is gone
      } else if (role == -12) {
        accept_proxy();
      } else if (role == -1) {
        write_in(id);
      } else {
        if ((re & POLLOUT) && streams_.count(id)) write_in(id);
        if (re & (POLLIN | POLLHUP | POLLERR)) read_out(id, role);
      }
    }
    tick();
  }
}

void Session::run() {
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
