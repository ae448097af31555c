#pragma once
// Process hardening for any process that decrypts secrets (the sbx CLI's secret commands and the
// egress proxy): call harden_process() before the first secret is decrypted.
#include "common/error.h"

namespace sbx::secrets {

/// Disable core dumps (RLIMIT_CORE 0) and ptrace attach / /proc/PID/mem by other same-uid
/// processes (PR_SET_DUMPABLE 0); an Error if either cannot be set. Idempotent.
Result<void> harden_process();

}  // namespace sbx::secrets
