#pragma once
// The per-sandbox supervisor: owns the VMM process, the host end of the guest channel, the
// sandbox logs and the control socket; routes exec/shell streams between CLI clients and the
// guest; records state.json; cleans up its sockets when the machine ends, however it ends.
#include <filesystem>

namespace sbx::supervisor {

/// Run the supervisor of the sandbox whose state directory is `dir` (it holds launch.json).
/// Returns the process exit code: 0 after a requested stop, 1 when the machine crashed.
int run_supervisor(const std::filesystem::path& dir);

}  // namespace sbx::supervisor
