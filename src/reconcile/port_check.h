#pragma once
// The [[port]] part of `sbx up` (apply_up.h): every forwarded host port must be free before anything boots.
#include "common/error.h"
#include "config/sandboxfile.h"
#include "supervisor/state.h"

namespace sbx::reconcile {

/// Bind (and release) each of `file`'s host ports now, so one another program holds fails
/// `sbx up` before booting, citing the [[port]] line. Ports the sandbox's own running supervisor
/// holds (a recreate) are skipped: they are free once it stops.
Result<void> check_ports_free(const config::Sandboxfile& file, const supervisor::SandboxPaths& paths);

}  // namespace sbx::reconcile
