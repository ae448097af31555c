#pragma once
// The supervisor's side of its egress proxy over the sandbox's life: starts the child, restarts
// it with backoff when it dies (SUPERVISOR.md, "Egress proxy restarts"), passes it guest proxy
// streams, asks it to reload, and records all of it in the sandbox state. The supervisor's loop
// polls control_fd() and the restart timer and calls in; what the keeper needs back (answers
// to waiting clients, a state write) goes through Hooks.
#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/backoff.h"
#include "supervisor/egress_link.h"
#include "supervisor/launch.h"
#include "supervisor/state.h"

namespace spdlog { class logger; }

namespace sbx::supervisor {

/// Why a guest proxy stream was not passed to the proxy, and whether the guest should say
/// "try again" (503) rather than "refused" (502).
struct StreamRefusal {
  std::string reason;
  bool retry = false;
};

/// Keeps a sandbox's egress proxy child running.
class EgressKeeper {
 public:
  using Clock = std::chrono::steady_clock;
  /// What the keeper calls back into its supervisor.
  struct Hooks {
    /// Answer the clients waiting for a restart: "" when the proxy is ready, else why not.
    std::function<void(const std::vector<int>& clients, const std::string& error)> answer;
    /// The proxy became ready or is not running: a CONFIG waiting for its CA can go.
    std::function<void()> settled;
    /// Record the state now.
    std::function<void()> write_state;
  };

  /// `launch` and `state` outlive the keeper; the keeper updates launch.egress.digest on restart
  /// and the egress fields of `state`.
  EgressKeeper(Launch& launch, const SandboxPaths& paths, SandboxState& state, std::shared_ptr<spdlog::logger> log,
               Hooks hooks);

  /// Start the child (when the launch enables egress); a failure is recorded, not returned:
  /// the sandbox still runs, it just has no way out.
  void start();
  /// The control socket to poll for POLLIN (-1 without a child).
  int control_fd() const { return child_.control_fd(); }
  /// Handle what the child said after POLLIN on control_fd() (a bounded number of events).
  void read_events();
  /// When the next restart is due, if one is.
  std::optional<Clock::time_point> restart_at() const { return restart_at_; }
  /// Restart the child if its restart is due at `now`.
  void on_timer(Clock::time_point now);
  /// Restart a dead child now, forgetting past deaths (SIGUSR2).
  void restart_requested();
  /// A client asks for a running proxy: it is answered through Hooks::answer once the proxy is
  /// ready or could not start; a dead proxy is restarted now.
  void wait_until_ready(int client);
  /// A client went away: it is no longer answered.
  void forget(int client);
  /// Answer every waiting client with `error` ("" = ready).
  void answer_waiters(const std::string& error);
  /// sbx up rewrote launch.json's [egress]: ask the child to reload (answer `id` in the state).
  void reload(long id);
  /// Pass one guest proxy stream to the child: the socket to bridge, or why not.
  std::expected<Fd, StreamRefusal> open_stream(const EgressRequest& request);
  /// The sandbox is stopping: a death is no longer followed by a restart.
  void wind_down() { winding_down_ = true; }
  /// Forget a scheduled restart.
  void cancel_restart() { restart_at_.reset(); }
  /// Stop the child, if one runs or was started, and record it stopped.
  void stop();

  bool alive() const { return child_.alive(); }
  bool ready() const { return child_.ready(); }

 private:
  void on_event(const EgressEvent& e);
  void restart_now();

  Launch& launch_;
  const SandboxPaths& paths_;
  SandboxState& state_;
  std::shared_ptr<spdlog::logger> log_;
  Hooks hooks_;
  EgressLink child_;
  Backoff backoff_;
  std::optional<Clock::time_point> restart_at_;
  std::vector<int> waiters_;   // clients that asked for a restart, answered once ready
  std::string reload_digest_;  // the hot reload in flight
  long reload_id_ = 0;         // and the id sbx up asked it with
  bool winding_down_ = false;
};

}  // namespace sbx::supervisor
