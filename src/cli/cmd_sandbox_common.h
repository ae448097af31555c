#pragma once
// Shared by up/exec/shell/down/status/logs: which sandbox a command means, and its files.
#include <chrono>
#include <optional>
#include <sys/types.h>
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

/// Run `open` in the sandbox in a child process with fd 0 and fd 1 replaced by `in` and `out`
/// (-1: /dev/null), `close_fd` closed in the child (the client drives the process's own standard
/// streams, hence the child). Returns its pid; wait_child() gives its exit status.
pid_t spawn_in_sandbox(const SandboxTarget& target, const guest::protocol::Open& open, int in, int out, int close_fd);

/// The exit status of a child (128 + signal when it was killed).
int wait_child(pid_t pid);

/// reconcile::lock_lifecycle, saying "waiting for ..." through `out`.
Result<Fd> lock_lifecycle(const supervisor::SandboxPaths& paths, std::chrono::seconds timeout, const Output& out);

}  // namespace sbx::cli
