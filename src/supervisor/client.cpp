#include "supervisor/client.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "common/escape.h"
#include "vmm/qemu_vmm.h"

namespace sbx::supervisor {
namespace proto = sbx::guest::protocol;
using proto::Frame;
using proto::FrameType;
using namespace std::chrono;

namespace {

constexpr std::uint32_t kStream = 1;

// Puts the terminal on fd 0 in raw mode for as long as it lives.
class RawTerminal {
 public:
  RawTerminal() {
    if (::tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(0, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

// Blocks the forwarded signals and reads them from a signalfd; restores the mask on exit.
class SignalCatcher {
 public:
  explicit SignalCatcher(std::initializer_list<int> signals) {
    sigemptyset(&set_);
    for (int s : signals) sigaddset(&set_, s);
    ::sigprocmask(SIG_BLOCK, &set_, &old_);
    fd_.reset(::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  ~SignalCatcher() { ::sigprocmask(SIG_SETMASK, &old_, nullptr); }
  int fd() const { return fd_.get(); }

 private:
  sigset_t set_{}, old_{};
  Fd fd_;
};

bool write_fd(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string crash_message(std::string_view error, std::string_view console_tail) {
  std::string out = text::escape_for_terminal(error);
  if (console_tail.empty()) return out;
  out += "\n--- last console lines ---\n" + text::escape_lines_for_terminal(console_tail, "  | ");
  if (out.ends_with('\n')) out.pop_back();  // render() adds the line end
  return out;
}

Result<Client> Client::connect(const SandboxPaths& paths) {
  auto fd = vmm::connect_unix(paths.control());
  if (!fd) {
    auto st = read_state(paths);
    if (st && (st->phase == Phase::crashed))
      return fail(ErrorCode::runtime, "sandbox '" + st->name + "' is not running: " + crash_message(st->error, st->console_tail),
                  "see 'sbx logs --console', then 'sbx up' to start it again");
    return fail(ErrorCode::not_found, "sandbox '" + paths.dir.filename().string() + "' is not running",
                "start it with 'sbx up'");
  }
  return Client(std::move(*fd), paths);
}

Error Client::sandbox_failed(const std::string& why) const {
  Error e{ErrorCode::runtime, why, {}, "see 'sbx status' and 'sbx logs --console'", {}};
  if (auto st = read_state(paths_); st && st->phase == Phase::crashed) {
    e.message = why + ": " + crash_message(st->error, st->console_tail);
  }
  return e;
}

Result<Frame> Client::read_frame(steady_clock::time_point deadline) {
  for (;;) {
    if (auto f = decoder_.next()) return std::move(*f);
    if (decoder_.failed()) return fail(ErrorCode::runtime, "malformed frame from the supervisor: " + decoder_.error());
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0 || !vmm::wait_readable(fd_.get(), left))
      return fail(ErrorCode::runtime, "the sandbox did not answer in time", "see 'sbx logs --console'");
    char buf[65536];
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::unexpected(sandbox_failed("the sandbox closed the connection"));
    decoder_.feed(buf, static_cast<size_t>(n));
  }
}

Result<void> Client::wait_ready(milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  if (!vmm::write_all(fd_.get(), proto::encode(Frame{FrameType::ping, 0, 0, "ready?"})))
    return std::unexpected(sandbox_failed("cannot talk to the sandbox"));
  for (;;) {
    auto f = read_frame(deadline);
    if (!f) {
      auto st = read_state(paths_);
      if (st && st->phase == Phase::crashed)
        return fail(ErrorCode::runtime, "the sandbox failed to start: " + crash_message(st->error, st->console_tail),
                    "see " + paths_.console_log().string());
      return std::unexpected(f.error());
    }
    if (f->type == FrameType::pong) return {};
    if (f->type == FrameType::error) {
      const std::string why = proto::parse_error_message(f->payload);
      if (why.find("cannot record its state") != std::string::npos)
        return fail(ErrorCode::io, "the sandbox runs but " + why,
                    "free space on the file system of " + paths_.dir.string() + ", then run 'sbx up' again");
      return fail(ErrorCode::runtime, "the sandbox failed to start: " + why, "see " + paths_.console_log().string());
    }
  }
}

Result<void> Client::restart_egress(milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  if (!vmm::write_all(fd_.get(), proto::encode(Frame{FrameType::ping, 0, 0, kEgressRestartPing})))
    return std::unexpected(sandbox_failed("cannot talk to the sandbox"));
  for (;;) {
    auto f = SBX_TRY(read_frame(deadline));
    if (f.type == FrameType::pong) return {};
    if (f.type == FrameType::error) {
      const std::string why = proto::parse_error_message(f.payload);
      const bool state = why.find("cannot record its state") != std::string::npos;
      return fail(state ? ErrorCode::io : ErrorCode::runtime, "cannot repair the egress proxy: " + why,
                  state ? "free space on the file system of " + paths_.dir.string() + ", then run 'sbx up' again"
                        : "see " + paths_.supervisor_log().string());
    }
  }
}

Result<void> Client::stop(milliseconds timeout) {
  if (!vmm::write_all(fd_.get(), proto::encode(proto::shutdown_frame(false))))
    return fail(ErrorCode::runtime, "cannot talk to the sandbox");
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    auto f = read_frame(deadline);
    // The supervisor closes every connection as it exits: a closed connection means stopped.
    if (!f) {
      if (steady_clock::now() >= deadline) return std::unexpected(f.error());
      return {};
    }
  }
}

Result<int> Client::run(const proto::Open& request) {
  proto::Open open = request;
  const bool tty = open.tty || open.kind == proto::OpenKind::shell;
  if (tty) {
    winsize ws{};
    if (::ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
      open.rows = ws.ws_row;
      open.cols = ws.ws_col;
    }
    if (const char* term = std::getenv("TERM"); term && *term) open.term = term;
  }
  SignalCatcher signals = tty ? SignalCatcher{SIGWINCH, SIGTERM, SIGHUP}
                              : SignalCatcher{SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};
  std::optional<RawTerminal> raw;
  if (tty && ::isatty(0)) raw.emplace();

  std::string out = proto::encode(proto::open_frame(kStream, open));
  if (!vmm::write_all(fd_.get(), out)) return std::unexpected(sandbox_failed("cannot talk to the sandbox"));

  bool opened = false, stdin_open = true, exited = false;
  std::int64_t window = 0;  // our send window (stdin), granted on OPEN_OK
  int code = 0;
  char buf[32768];
  for (;;) {
    pollfd fds[3] = {{fd_.get(), POLLIN, 0}, {signals.fd(), POLLIN, 0}, {0, 0, 0}};
    nfds_t n = 2;
    if (opened && stdin_open && window > 0) {
      fds[2] = {0, POLLIN, 0};
      n = 3;
    }
    if (::poll(fds, n, -1) < 0 && errno != EINTR) return fail(ErrorCode::io, "poll failed");
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(signals.fd(), &si, sizeof si) == sizeof si) {
        if (!opened) continue;
        Frame f = si.ssi_signo == SIGWINCH ? Frame{} : proto::signal_frame(kStream, si.ssi_signo);
        if (si.ssi_signo == SIGWINCH) {
          winsize ws{};
          if (!tty || ::ioctl(0, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) continue;
          f = proto::resize_frame(kStream, ws.ws_row, ws.ws_col);
        }
        vmm::write_all(fd_.get(), proto::encode(f));
      }
    }
    if (n == 3 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      const size_t want = static_cast<size_t>(std::min<std::int64_t>(window, sizeof buf));
      const ssize_t r = ::read(0, buf, want);
      if (r > 0) {
        window -= r;
        vmm::write_all(fd_.get(), proto::encode(proto::data_frame(kStream, {buf, static_cast<size_t>(r)})));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        stdin_open = false;
        vmm::write_all(fd_.get(), proto::encode(proto::empty_frame(FrameType::eof, kStream)));
      }
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    const ssize_t r = ::read(fd_.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      raw.reset();
      if (exited) return code;
      return std::unexpected(sandbox_failed("the sandbox stopped while the command was running"));
    }
    decoder_.feed(buf, static_cast<size_t>(r));
    while (auto f = decoder_.next()) {
      switch (f->type) {
        case FrameType::open_ok:
          opened = true;
          window = proto::kInitialWindow;
          break;
        case FrameType::open_fail: {
          raw.reset();
          auto why = proto::parse_open_fail(f->payload);
          // The reason is the guest's words (and may echo argv): shown escaped.
          const std::string reason = why ? why->reason : f->payload;
          return fail(ErrorCode::cannot_start, "cannot run " +
                                                   (open.argv.empty() ? std::string("a shell") : text::escape_for_terminal(open.argv[0])) +
                                                   " in the sandbox: " + text::escape_for_terminal(reason));
        }
        case FrameType::data: {
          const int target = f->flags == proto::kChannelStderr ? 2 : 1;
          write_fd(target, f->payload);
          vmm::write_all(fd_.get(), proto::encode(proto::window_frame(kStream, static_cast<std::uint32_t>(f->payload.size()))));
          break;
        }
        case FrameType::window:
          window += proto::read_u32(f->payload);
          break;
        case FrameType::exit: {
          const auto st = proto::parse_exit(*f);
          code = st.signal ? 128 + static_cast<int>(st.signal) : st.code;
          exited = true;
          break;
        }
        case FrameType::close:
          vmm::write_all(fd_.get(), proto::encode(proto::empty_frame(FrameType::close, kStream)));
          raw.reset();
          if (!exited) return std::unexpected(sandbox_failed("the command's stream closed without an exit status"));
          return code;
        case FrameType::error:
          raw.reset();
          return fail(ErrorCode::runtime, "the sandbox failed: " + proto::parse_error_message(f->payload),
                      "see 'sbx status' and 'sbx logs --console'");
        default:
          break;
      }
    }
    if (decoder_.failed()) return fail(ErrorCode::runtime, "malformed frame from the supervisor: " + decoder_.error());
  }
}

}  // namespace sbx::supervisor
