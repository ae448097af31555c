#pragma once
// Shared by up/exec/shell/down/status/logs: which sandbox a command means, and its files.
#include <optional>
#include <string>

#include "cli/args.h"
#include "common/error.h"
#include "config/sandboxfile.h"
#include "supervisor/state.h"

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

}  // namespace sbx::cli
