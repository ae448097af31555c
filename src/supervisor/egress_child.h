#pragma once
// The egress proxy child of a sandbox (`sbx __egress STATE_DIR`, started by the supervisor): runs
// sbx::proxy::Proxy with the applied Sandboxfile's [egress] and [[secret]] bindings, serves the
// client sockets the supervisor hands it over fd 3, reloads on request. The only sbx process of a
// sandbox that holds header secret values (env secrets pass through the supervisor: env_secrets.h).
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::supervisor {

/// Run the egress proxy of the sandbox in `dir` with the control socket `control_fd`; returns
/// the process exit code (0 when the supervisor went away, 1 when it could not start).
int run_egress_process(const std::filesystem::path& dir, int control_fd);

/// Check, without decrypting anything, that every secret `file` binds (inject = "header", read by
/// the egress proxy, and inject = "env", read by the supervisor) can be read by a process with no
/// terminal: the store exists, is in key-file mode (a passphrase cannot be asked for later), and
/// holds each secret. The error says which and how to fix it.
Result<void> check_bound_secrets(const config::Sandboxfile& file);

/// Raise this process's soft RLIMIT_NOFILE to its hard limit (where allowed); returns the soft
/// limit in force afterwards.
std::uint64_t raise_fd_limit();

/// How many client connections a proxy with `fd_limit` descriptors takes at once: each may hold
/// a client, an upstream and a splice pipe pair; a reserve stays for logs, resolver and control.
size_t connection_cap(std::uint64_t fd_limit);

/// The egress decision log of the sandbox in `dir` (one JSON line per decision).
std::filesystem::path egress_log_path(const std::filesystem::path& dir);

}  // namespace sbx::supervisor
