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
  return virtiofsd_nofile(now, ::geteuid() == 0);
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
