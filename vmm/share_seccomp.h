#pragma once
// The seccomp filter sbx puts on virtiofsd: no file it serves can become set-uid or set-gid, and
// it writes no extended attribute (so no file capability either). It stacks under virtiofsd's own.
#include <linux/filter.h>
#include <vector>

#include "common/error.h"

namespace sbx::vmm {

/// The compiled filter (classic BPF for this architecture): chmod, fchmod, fchmodat, open, openat,
/// creat, mkdir, mkdirat, mknod and mknodat fail with EPERM when the mode carries S_ISUID or
/// S_ISGID, the setxattr family always does, and openat2 (whose mode seccomp cannot see) fails with
/// ENOSYS. Everything else is left to virtiofsd's own filter. Built once, before any fork.
Result<std::vector<sock_filter>> share_seccomp_program();

/// Install `program` on the calling thread, with no_new_privs (async-signal-safe: for a pre-exec hook).
/// Returns 0 or an errno.
int install_seccomp_program(const std::vector<sock_filter>& program);

}  // namespace sbx::vmm
