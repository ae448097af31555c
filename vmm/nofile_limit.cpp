#include "vmm/nofile_limit.h"

#include <algorithm>
#include <unistd.h>

namespace sbx::vmm {

rlimit virtiofsd_nofile(const rlimit& current, bool root) {
  rlim_t hard = current.rlim_max;
  if (root && hard < kVirtiofsdWantsNofile) hard = kVirtiofsdWantsNofile;
  hard = std::min(hard, kVirtiofsdWantsNofile);
  rlimit out{};
  out.rlim_cur = out.rlim_max = hard;
  return out;
}

rlimit virtiofsd_nofile() {
  rlimit now{};
  if (::getrlimit(RLIMIT_NOFILE, &now) != 0) now.rlim_cur = now.rlim_max = 1024;
  rlimit want = virtiofsd_nofile(now, ::geteuid() == 0);
  if (want.rlim_max > now.rlim_max) {
    // Root without CAP_SYS_RESOURCE (a container) cannot raise the hard limit: find out by
    // raising this process's own (the soft limit stays), else take the hard limit as it is.
    // The number virtiofsd is given is then the one in effect, not one it silently failed to set.
    rlimit raised = now;
    raised.rlim_max = want.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) want = virtiofsd_nofile(now, false);
  }
  return want;
}

std::optional<std::string> nofile_warning(const rlimit& for_virtiofsd) {
  if (for_virtiofsd.rlim_max >= kNofileWarnBelow) return std::nullopt;
  return "the open-file hard limit is " + std::to_string(for_virtiofsd.rlim_max) +
         ", so a mount can keep at most that many files open in the guest (a tree with more files fails with "
         "EMFILE, 'Too many open files'); raise it to " + std::to_string(kVirtiofsdWantsNofile) +
         " (ulimit -Hn in the shell as root, LimitNOFILE= in a systemd unit, or nofile in "
         "/etc/security/limits.conf) and start sbx up again";
}

}  // namespace sbx::vmm
