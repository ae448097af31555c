#include "supervisor/exit_reason.h"

namespace sbx::supervisor {

std::string panic_line(const std::string& tail) {
  const auto at = tail.find("Kernel panic");
  if (at == std::string::npos) return {};
  const auto end = tail.find('\n', at);
  return tail.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

ExitReason classify_exit(const VmmEnd& end) {
  if (end.stopping && !end.exit.signaled) return {Phase::stopped, ""};
  if (const auto panic = panic_line(end.console_tail); !panic.empty())
    return {Phase::crashed, "the guest kernel panicked: " + panic};
  if (end.exit.signaled)
    return {Phase::crashed, "the VMM (QEMU, pid " + std::to_string(end.vmm_pid) + ") was " + end.exit.describe()};
  if (end.exit.code == 0) return {Phase::crashed, "the guest powered off on its own"};
  return {Phase::crashed, "QEMU " + end.exit.describe() + ": " + end.vmm_log_tail};
}

}  // namespace sbx::supervisor
