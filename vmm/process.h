#pragma once
// Starting a child that dies with its parent (PR_SET_PDEATHSIG) and watching it through a pidfd.
#include <filesystem>
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

/// fork+exec `argv` (no shell) in `cwd` with stdin from /dev/null and stdout+stderr appended to
/// `output_log`; the child gets SIGKILL when this process dies; every other fd is closed.
Result<Child> spawn_child(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                          const std::filesystem::path& output_log);

/// Turn a waitpid status into an Exit.
Exit exit_from_status(int status);

}  // namespace sbx::vmm
