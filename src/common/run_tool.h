#pragma once
// Runs a host tool (busybox, mkfs.ext4, debugfs, cp, mmdebstrap) from an argv without a shell;
// the tool gets /dev/null as stdin, a pipe as stdout and stderr, and no other descriptor.
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"

namespace sbx {

/// Output of a finished tool.
struct ToolResult {
  int status = 0;      // exit code, or 128+signal
  std::string output;  // stdout and stderr together (capped at 1 MiB)
};

/// Run argv[0] (a path: see find_tool) with stdin from /dev/null and wait; fails only if it could
/// not start (a 127 exit with no output counts as that).
Result<ToolResult> run_tool(const std::vector<std::string>& argv);

/// Run argv[0] like run_tool, but hand each line of its output (stdout and stderr together) to
/// `line` as it comes, for tools that report progress; `tail` keeps the last 8 KiB for an error
/// message. Returns the exit status (128+signal); fails only if the pipe or fork does.
Result<int> run_tool_lines(const std::vector<std::string>& argv, const std::function<void(const std::string&)>& line,
                           std::string& tail);

/// Find an executable in PATH plus /usr/sbin and /sbin; a name with a '/' is taken as it is. The
/// not_found error names Debian's `package` as the fix.
Result<std::string> find_tool(const std::string& name, const std::string& package);

}  // namespace sbx
