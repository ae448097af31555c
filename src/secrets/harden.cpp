#include "secrets/harden.h"

#include <cerrno>
#include <cstring>
#include <string>

#include <sys/prctl.h>
#include <sys/resource.h>

namespace sbx::secrets {

Result<void> harden_process() {
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0)
    return fail(ErrorCode::runtime, std::string("cannot disable core dumps (RLIMIT_CORE): ") + std::strerror(errno),
                "this should not fail for an unprivileged process; report it with your kernel version");
  // Not dumpable: no core file, /proc/PID/mem and ptrace attach limited to root (CAP_SYS_PTRACE).
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return fail(ErrorCode::runtime, std::string("cannot set PR_SET_DUMPABLE 0: ") + std::strerror(errno),
                "this should not fail on Linux; report it with your kernel version");
  return {};
}

}  // namespace sbx::secrets
