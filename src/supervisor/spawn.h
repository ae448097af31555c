#pragma once
// Starting a sandbox's supervisor: sbx runs itself as `sbx __supervise <dir>` in a new session,
// detached from the terminal, so the sandbox outlives the command that started it.
#include <filesystem>
#include <sys/types.h>

#include "common/error.h"

namespace sbx::supervisor {

/// The hidden command name the supervisor runs under.
inline constexpr const char* kSuperviseCommand = "__supervise";

/// Start `sbx __supervise dir` detached (setsid), stdout/stderr to dir/supervisor.log.
Result<pid_t> spawn_supervisor(const std::filesystem::path& dir);

/// True when `pid` is a live sbx supervisor (not a recycled pid, not a zombie).
bool supervisor_alive(long pid);

}  // namespace sbx::supervisor
