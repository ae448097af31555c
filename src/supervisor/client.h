#pragma once
// The CLI side of a sandbox's control socket: wait for READY, run exec/shell streams with the
// caller's stdin/stdout/stderr (or terminal), ask for a stop.
#include <chrono>
#include <string>
#include <string_view>

#include "common/error.h"
#include "guest/protocol/frame.h"
#include "guest/protocol/messages.h"
#include "supervisor/state.h"
#include "vmm/unix_socket.h"

namespace sbx::supervisor {

/// Exit code of `sbx exec` when the sandbox (not the command) failed, as ssh does.
inline constexpr int kSandboxFailedExit = 255;

/// The control-socket PING payload that asks the supervisor to restart its egress proxy now; the
/// PONG (same payload) comes once the proxy is ready.
inline constexpr const char* kEgressRestartPing = "egress-restart";

/// A crash told to people: `error` on one line, then the console's last lines each behind "  | ";
/// both escaped, since both may hold text the guest wrote.
std::string crash_message(std::string_view error, std::string_view console_tail);

/// One connection to a supervisor.
class Client {
 public:
  /// Connect to the sandbox at `paths`; a clear error when it is not running.
  static Result<Client> connect(const SandboxPaths& paths);
  /// Block until the sandbox is ready (or failed), at most `timeout`.
  Result<void> wait_ready(std::chrono::milliseconds timeout);
  /// Run `open` (exec or shell) wired to fds 0/1/2; returns the command's exit code.
  /// With open.tty, the terminal on fd 0 is put in raw mode and window changes are forwarded;
  /// otherwise SIGINT/SIGTERM/SIGHUP/SIGQUIT are forwarded to the guest process group.
  Result<int> run(const guest::protocol::Open& open);
  /// Ask the supervisor to start its dead egress proxy now and wait until it is ready, at most
  /// `timeout` (a PING "egress-restart" answered by PONG, or ERROR with the reason).
  Result<void> restart_egress(std::chrono::milliseconds timeout);
  /// Ask the supervisor to power the sandbox off and wait until it is gone, at most `timeout`.
  Result<void> stop(std::chrono::milliseconds timeout);

 private:
  explicit Client(Fd fd, SandboxPaths paths) : fd_(std::move(fd)), paths_(std::move(paths)) {}
  Result<guest::protocol::Frame> read_frame(std::chrono::steady_clock::time_point deadline);
  Error sandbox_failed(const std::string& why) const;
  Fd fd_;
  SandboxPaths paths_;
  guest::protocol::Decoder decoder_;
};

}  // namespace sbx::supervisor
