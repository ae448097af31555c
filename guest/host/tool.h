#pragma once
// Runs a host tool (busybox, mkfs.ext4, debugfs) from an argv without a shell.
#include <string>
#include <vector>

#include "common/error.h"

namespace sbx::guest {

/// Output of a finished tool.
struct ToolResult {
  int status = 0;      // exit code, or 128+signal
  std::string output;  // stdout and stderr together (capped at 1 MiB)
};

/// Run argv[0] (searched in PATH, /usr/sbin and /sbin) and wait; fails only if it could not start.
Result<ToolResult> run_tool(const std::vector<std::string>& argv);
/// Find an executable in PATH plus /usr/sbin and /sbin.
Result<std::string> find_tool(const std::string& name, const std::string& package);

}  // namespace sbx::guest
