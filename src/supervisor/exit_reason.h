#pragma once
// Why a sandbox's VMM ended, from what the supervisor saw: how the process ended, whether the
// supervisor was stopping it, and the console's last lines. Pure, so a table tests every case.
#include <string>

#include "supervisor/state.h"
#include "vmm/vmm.h"

namespace sbx::supervisor {

/// What the supervisor knows when the VMM process has ended.
struct VmmEnd {
  vmm::Exit exit;
  bool stopping = false;      // the supervisor asked the machine to stop
  long vmm_pid = 0;           // for the message
  std::string console_tail;   // the console's last lines (the guest's: hostile text, escaped later)
  std::string vmm_log_tail;   // the VMM's own output (its errors about arguments)
};

/// The phase the sandbox ends in and, for crashed, why.
struct ExitReason {
  Phase phase = Phase::crashed;
  std::string error;  // "" for stopped
};

/// Stopped when asked to stop and the VMM exited on its own; otherwise crashed with, in order:
/// the kernel panic line, the signal that killed the VMM, "powered off on its own" (status 0),
/// or QEMU's status and the tail of its log.
ExitReason classify_exit(const VmmEnd& end);

/// The "Kernel panic ..." line of a console tail, or "" when the kernel did not panic.
std::string panic_line(const std::string& console_tail);

}  // namespace sbx::supervisor
