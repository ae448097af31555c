#pragma once
// The sandbox's egress proxy as its supervisor sees it: a separate child process (`sbx __egress
// STATE_DIR`) that holds the rules and the plaintext secrets, so the supervisor never does. The
// supervisor talks to it over a SOCK_SEQPACKET control socket (fd 3 in the child):
//   supervisor -> child: a packet "stream <client>" carrying one end of a socketpair (SCM_RIGHTS)
//                        per guest proxy stream; "reload" (re-read the applied Sandboxfile)
//   child -> supervisor: "ready", "failed <why>", "reloaded", "reload-failed <why>"
// The child dies with the supervisor (PR_SET_PDEATHSIG); its end of the socket closing is how
// the supervisor learns that it died.
#include <filesystem>
#include <string>

#include "common/error.h"
#include "guest/protocol/messages.h"
#include "vmm/unix_socket.h"

namespace sbx::supervisor {

/// The hidden command the egress proxy child runs under.
inline constexpr const char* kEgressCommand = "__egress";

/// Who asks: the sandbox name and the guest's description of the connection.
struct EgressRequest {
  std::string sandbox;
  guest::protocol::Destination destination;
  std::string client;  // "127.0.0.1:PORT" inside the guest
};

/// What the child said (one control packet), or that it is gone.
struct EgressEvent {
  enum Kind { none, ready, failed, reloaded, reload_failed, died } kind = none;
  std::string detail;  // why, for failed / reload_failed / died
};

/// The supervisor's handle on its egress proxy child.
class EgressLink {
 public:
  EgressLink() = default;
  ~EgressLink();
  EgressLink(const EgressLink&) = delete;
  EgressLink& operator=(const EgressLink&) = delete;

  /// Start `argv0 __egress dir` (argv0: this sbx binary), stdout/stderr appended to `log`.
  Result<void> start(const std::filesystem::path& dir, const std::filesystem::path& log);
  /// The control socket to poll for POLLIN (-1 when not started or gone).
  int control_fd() const { return control_.get(); }
  /// Read one event after POLLIN on control_fd(); `none` when nothing complete was waiting.
  EgressEvent read_event();
  /// True after "ready" and before death.
  bool ready() const { return ready_ && alive_; }
  /// True while the process runs (started, not seen dead).
  bool alive() const { return alive_; }
  long pid() const { return pid_; }
  /// Why the proxy cannot take connections ("" when it can).
  std::string unavailable_reason() const;
  /// A connected, non-blocking stream socket whose other end the proxy now serves as a client,
  /// or why the connection is refused (the guest answers the program with 502 and that reason).
  Result<Fd> open_stream(const EgressRequest& request);
  /// Ask the proxy to re-read the applied Sandboxfile; the answer comes as an event.
  bool request_reload();
  /// Stop the child (SIGTERM, then SIGKILL after `grace_ms`) and reap it.
  void stop(int grace_ms = 1000);

 private:
  void mark_dead(std::string why);
  Fd control_;
  long pid_ = 0;
  int pidfd_ = -1;
  bool alive_ = false, ready_ = false;
  std::string death_;
};

}  // namespace sbx::supervisor
