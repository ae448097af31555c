#pragma once
// The recorded state of one sandbox (state.json), written atomically by its supervisor.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/error.h"

namespace sbx::supervisor {

/// Lifecycle of a sandbox as its supervisor records it.
enum class Phase { starting, ready, stopping, stopped, crashed };

const char* phase_name(Phase p);

/// One budget in state.json: in use now, the limit, and how many requests it refused.
struct BudgetUse {
  std::uint64_t used = 0, limit = 0, refused = 0;
  bool operator==(const BudgetUse&) const = default;
};

/// One capped log in state.json: bytes in the current file, its cap, rotated files kept,
/// rotations so far, and bytes dropped (unwritable file, or a stream that overran its window).
struct LogUse {
  std::uint64_t bytes = 0, limit = 0, rotations = 0, dropped = 0;
  int keep = 0;
  bool operator==(const LogUse&) const = default;
};

/// What the guest holds on the host side now, against each budget (see SUPERVISOR.md).
struct BudgetReport {
  BudgetUse log_streams, routes, proxy_streams, port_connections;
  LogUse guest_log, console_log;
  bool operator==(const BudgetReport&) const = default;
};

/// The "budgets" object of state.json and `sbx status --json`.
nlohmann::json budgets_to_json(const BudgetReport& b);

/// The values of SandboxState::egress_state ("" without an egress proxy).
namespace egress_state {
inline constexpr const char* kStarting = "starting";      // started, not ready yet
inline constexpr const char* kRunning = "running";        // ready: takes connections
inline constexpr const char* kFailed = "failed";          // not running; egress_error says why
inline constexpr const char* kRestarting = "restarting";  // died; started again after egress_restart_in_ms
inline constexpr const char* kStopped = "stopped";        // stopped with the sandbox
}  // namespace egress_state

/// The content of state.json.
struct SandboxState {
  std::string name;
  Phase phase = Phase::starting;
  std::string digest;
  long supervisor_pid = 0;
  long vmm_pid = 0;
  std::string accel;             // "kvm" or "tcg"
  std::int64_t started_unix_ms = 0;
  std::int64_t ready_ms = 0;     // from supervisor start to READY
  std::int64_t guest_uptime_ms = 0;  // the guest's uptime in HELLO
  std::string error;             // why it stopped, for crashed
  std::string console_tail;      // last console lines, for crashed
  std::vector<std::string> warnings;  // guest setup problems READY reported (a mount that failed)
  long egress_pid = 0;               // the egress proxy child
  std::string egress_state;          // one of egress_state::k*, or "" without a proxy
  std::string egress_error;          // why the egress proxy is not running
  std::string egress_digest;         // the [egress] digest the proxy applies now
  std::string egress_reload_digest;  // the last hot reload asked for (sbx up waits for it)
  std::string egress_reload_error;   // why that reload failed ("" when it applied)
  long egress_reload_id = 0;         // the request id sbx up sent with SIGUSR1 (sigqueue)
  long egress_restarts = 0;          // how often the supervisor restarted a dead proxy
  std::int64_t egress_restart_in_ms = 0;  // with egress_state "restarting": the delay chosen
  std::string docker_state;           // [docker]: "starting", "running", "failed" ("" without [docker])
  std::string docker_detail;          // what the guest agent said with it (ready time, why it failed)
  BudgetReport budgets;
  /// Not in state.json: the stop-requested marker names this supervisor (sbx down asked it to
  /// stop), read by read_state.
  bool stop_requested = false;
};

/// The files of one sandbox, all in its state directory.
struct SandboxPaths {
  std::filesystem::path dir;
  std::filesystem::path launch() const { return dir / "launch.json"; }
  std::filesystem::path state() const { return dir / "state.json"; }
  std::filesystem::path control() const { return dir / "ctl.sock"; }
  std::filesystem::path channel() const { return dir / "chan.sock"; }
  std::filesystem::path qmp() const { return dir / "qmp.sock"; }
  std::filesystem::path console_log() const { return dir / "console.log"; }
  std::filesystem::path console_socket() const { return dir / "console.sock"; }
  std::filesystem::path supervisor_log() const { return dir / "supervisor.log"; }
  std::filesystem::path guest_log() const { return dir / "guest.log"; }
  std::filesystem::path egress_log() const { return dir / "egress.log"; }
  std::filesystem::path egress_snapshot() const { return dir / "Sandboxfile.applied"; }
  std::filesystem::path ca_certificate() const { return dir / "ca.crt"; }
  std::filesystem::path disk() const { return dir / "disk.ext4"; }          // the sandbox disk (sparse ext4)
  std::filesystem::path disk_record() const { return dir / "disk.json"; }   // what the disk was made for
  std::filesystem::path stop_request() const { return dir / "stop-requested"; }  // sbx down asked (a pid)
};

/// paths::state_dir()/sandboxes/<name>.
SandboxPaths sandbox_paths(const std::string& name);

Result<void> write_state(const SandboxPaths& p, const SandboxState& s);
Result<SandboxState> read_state(const SandboxPaths& p);

/// The recorded state corrected by what is alive: a starting, running or stopping sandbox whose
/// supervisor is gone crashed (error says so), unless a stop of that very supervisor was
/// requested (stop_requested): then it is stopped. `sbx status` and `sbx down` both classify
/// with it.
SandboxState effective_state(SandboxState s);

/// Record that the user asked the supervisor `supervisor_pid` to stop (sbx down, rm, restart),
/// before asking it: if it is killed before it records "stopped" itself, the sandbox still reads
/// stopped, not crashed. The supervisor stays the only writer of state.json.
Result<void> write_stop_request(const SandboxPaths& p, long supervisor_pid);

/// Forget a stop request (a new supervisor is about to start).
void clear_stop_request(const SandboxPaths& p);

/// Remove every Unix socket (*.sock) of the sandbox: control, channel, QMP, virtio-fs.
void remove_sockets(const SandboxPaths& p);

/// True when no process `pid` exists any more, or only its zombie (it has fully exited).
bool process_gone(long pid);

/// True when a process with this id exists.
bool process_alive(long pid);

}  // namespace sbx::supervisor
