#pragma once
// Starting a child that dies with its parent (PR_SET_PDEATHSIG) and watching it through a pidfd.
#include <filesystem>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "common/error.h"
#include "vmm/vmm.h"

namespace sbx::vmm {

/// A started child process.
struct Child {
  pid_t pid = -1;
  int pidfd = -1;  // -1 when the kernel has no pidfd_open
};

/// A step of a pre-exec hook that failed: what it was doing (a string literal) and errno.
struct ChildStep {
  const char* what = nullptr;
  int err = 0;
};

/// How spawn_child starts a child.
struct SpawnOptions {
  std::filesystem::path cwd;         // empty: stay in the current directory
  std::filesystem::path output_log;  // stdout and stderr are appended here
  std::vector<int> pass_fds;         // given to the child as fd 3, 4, ... in this order
  /// Runs in the child after the descriptors are in place and just before exec (after fork: only
  /// async-signal-safe calls). Returns a default ChildStep to go on, or the step that failed.
  std::function<ChildStep()> pre_exec;
  /// The fix shown when argv[0] cannot be executed.
  std::string missing_hint = "install it (Debian: apt-get install qemu-system-x86) or run ./setup.sh";
};

/// fork+exec `argv` (no shell) with stdin from /dev/null, stdout+stderr appended to the log, every
/// other fd closed except `pass_fds`, in its own process group; the child gets SIGKILL when this
/// process dies. A failed pre-exec step or exec is reported as an error (the child is reaped).
Result<Child> spawn_child(const std::vector<std::string>& argv, const SpawnOptions& options);

/// spawn_child with only a working directory and a log.
Result<Child> spawn_child(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                          const std::filesystem::path& output_log);

/// Turn a waitpid status into an Exit.
Exit exit_from_status(int status);

}  // namespace sbx::vmm
