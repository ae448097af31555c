// Streams: an exec'd process (pipes or a PTY) or a proxy client socket, with flow-control
// windows each way, and EOF, EXIT and CLOSE sent once everything is drained.
#include <cerrno>
#include <csignal>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "guest/agent/console.h"
#include "guest/agent/proxy_listener.h"
#include "guest/agent/session_impl.h"
#include "guest/agent/spawn.h"

namespace sbx::guest::agent {
namespace p = sbx::guest::protocol;

namespace {
// After a process exits, how long its output fds may stay quiet before they count as finished.
constexpr std::int64_t kDrainGraceMs = 200;
}  // namespace

void Session::Impl::abort_all() {
  for (auto& [id, s] : streams_) {
    if (s.pid > 0 && !s.exited) ::kill(-s.pid, SIGKILL);
    s.sent_close = true;
    destroy(s);
  }
  streams_.clear();
}

void Session::Impl::destroy(Stream& s) {
  std::set<int> fds = {s.in_fd, s.out_fd[0], s.out_fd[1]};
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
  s.in_fd = s.out_fd[0] = s.out_fd[1] = -1;
}

void Session::Impl::handle_stream_frame(Stream& s, const p::Frame& f) {
  switch (f.type) {
    case p::FrameType::open_ok:
      if (!s.open_pending) return protocol_error("OPEN_OK for a stream that is not opening");
      s.open_pending = false;
      return;
    case p::FrameType::open_fail: {
      if (!s.open_pending) return protocol_error("OPEN_FAIL for a stream that is not opening");
      auto fail = p::parse_open_fail(f.payload);
      std::string reason = fail ? fail->reason : "the host refused the connection";
      // A temporary refusal (the host's egress proxy restarts) is a 503 the client may retry.
      if (s.kind == p::OpenKind::proxy && s.in_fd >= 0) send_proxy_refusal(s.in_fd, reason, fail && fail->retry);
      destroy(s);
      streams_.erase(f.stream);
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

void Session::Impl::handle_open(const p::Frame& f) {
  if (f.stream % 2 == 0) return protocol_error("the host must open odd stream ids");
  if (streams_.count(f.stream)) return protocol_error("OPEN on stream " + std::to_string(f.stream) + ", already open");
  auto req = p::parse_open(f.payload);
  if (!req) return send(p::open_fail_frame(f.stream, {"bad OPEN: " + req.error().message, std::nullopt}));
  if (req->kind == p::OpenKind::port) return open_port(f.stream, req->guest_port);
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

void Session::Impl::handle_data(Stream& s, const p::Frame& f) {
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

void Session::Impl::write_in(std::uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  std::size_t written = 0;
  while (!s.in_buf.empty() && s.in_fd >= 0 && !s.in_closed && !s.connecting) {
    ssize_t n = is_socket_stream(s.kind) ? ::send(s.in_fd, s.in_buf.data(), s.in_buf.size(), MSG_NOSIGNAL)
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
  if (s.in_buf.empty() && s.host_eof && !s.in_closed && !s.connecting) close_in(s);
  maybe_finish(s);
}

void Session::Impl::close_in(Stream& s) {
  if (s.in_closed) return;
  s.in_closed = true;
  if (s.in_fd < 0) return;
  if (is_socket_stream(s.kind)) {
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

void Session::Impl::read_out(std::uint32_t id, int channel) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  int fd = s.out_fd[channel];
  if (fd < 0 || s.out_eof[channel]) return;
  char buf[p::kMaxPayload];
  std::size_t want = std::min<std::size_t>(sizeof buf, s.send_window);
  if (want == 0) return;
  ssize_t n = is_socket_stream(s.kind) ? ::recv(fd, buf, want, 0) : ::read(fd, buf, want);
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

void Session::Impl::maybe_finish(Stream& s) {
  if (s.sent_close) return;
  bool out_done = s.out_eof[0] && s.out_eof[1];
  if (is_socket_stream(s.kind)) {
    if (s.open_pending || s.connecting) return;
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

void Session::Impl::handle_close(std::uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  if (s.pid > 0 && !s.exited) ::kill(-s.pid, SIGKILL);
  if (!s.sent_close) send(p::empty_frame(p::FrameType::close, id));
  destroy(s);
  streams_.erase(it);
}

void Session::Impl::on_child_exit(pid_t pid, int status) {
  if (on_dockerd_exit(docker_, pid, status)) return;
  for (auto& [id, s] : streams_) {
    if (s.pid != pid || s.exited) continue;
    s.exited = true;
    s.exit_at = uptime_ms();
    if (WIFSIGNALED(status)) {
      s.exit_signal = static_cast<std::uint32_t>(WTERMSIG(status));
      s.exit_code = 128 + WTERMSIG(status);
    } else {
      s.exit_code = WEXITSTATUS(status);
    }
    maybe_finish(s);
  }
}

void Session::Impl::tick() {
  // After the process exits, output fds still held open by its children (or a PTY with data
  // left) are read until quiet for kDrainGraceMs, then treated as finished. Proxy streams wait
  // for the host's CLOSE like every other stream.
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
}

bool Session::Impl::poll_streams(PollSet& set) const {
  bool draining = false;
  for (const auto& [id, s] : streams_) {
    if (s.sent_close) continue;
    if (s.connecting) {
      set.add(s.out_fd[0], POLLOUT, {PollRole::connecting, id});
      continue;
    }
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
      set.add(fd, ev, {PollRole::stream_out, id, c});
    }
    if (in_ev) set.add(s.in_fd, in_ev, {PollRole::stream_in, id});
  }
  return draining;
}

}  // namespace sbx::guest::agent
