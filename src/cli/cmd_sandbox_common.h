#pragma once
// Shared by up/exec/shell/down/status/logs: which sandbox a command means, and its files.
#include <chrono>
#include <optional>
#include <string>

#include "cli/args.h"
#include "cli/output.h"
#include "common/error.h"
#include "config/sandboxfile.h"
#include "guest/protocol/messages.h"
#include "supervisor/state.h"
#include "vmm/unix_socket.h"

namespace sbx::cli {

/// The sandbox a command acts on.
struct SandboxTarget {
  std::string name;
  supervisor::SandboxPaths paths;
  std::optional<config::Sandboxfile> file;  // when it was found through a Sandboxfile
};

/// --name N, else the Sandboxfile at the PATH positional (if `path_positional`), else the one
/// in the current directory.
Result<SandboxTarget> resolve_sandbox(const Args& args, bool path_positional);

/// An OPEN of `kind` with the Sandboxfile's agent env (if `target` has one), then --user /
/// --workdir from `args` where given; otherwise the guest's CONFIG user and workdir apply.
guest::protocol::Open default_open(const SandboxTarget& target, const Args& args, guest::protocol::OpenKind kind);

/// Run `open` in the sandbox through its supervisor: the program's exit status, 127 when it
/// cannot be started, kSandboxFailedExit when the sandbox is down or fails (reason printed).
int run_in_sandbox(const SandboxTarget& target, const guest::protocol::Open& open);

/// Hold the sandbox's lifecycle lock (an flock on <state dir>/lifecycle.lock) so that two
/// `sbx up` / `sbx down` of one sandbox never interleave; waits up to `timeout`, saying so once
/// through `out`. The lock is released when the returned fd closes (or the process dies).
Result<Fd> lock_lifecycle(const supervisor::SandboxPaths& paths, std::chrono::seconds timeout, const Output& out);

/// Stop the sandbox at `paths`, whose lifecycle lock the caller holds: its supervisor is asked to
/// power the guest off (then killed after a bounded wait), its sockets removed and state.json
/// says stopped (a crash stays a crash). Returns what it was before ("running", "crashed", ...);
/// not_found when it has no state.json.
Result<std::string> stop_locked(const supervisor::SandboxPaths& paths);

}  // namespace sbx::cli
