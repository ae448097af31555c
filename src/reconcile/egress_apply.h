#pragma once
// The egress part of a launch: the applied copy of the Sandboxfile the sandbox's egress proxy
// loads, a digest of [egress] kept apart from the machine's digest (so a rules-only change is a
// hot update, not a reboot), and the hot update itself.
#include <chrono>

#include "common/error.h"
#include "config/sandboxfile.h"
#include "supervisor/launch.h"
#include "supervisor/state.h"

namespace sbx::reconcile {

/// Fill `l.egress` for `file` and recompute `l.digest` without the [egress] section (which gets
/// `l.egress.digest`, together with the host `pins`: changing either is a hot update). make_launch
/// calls it last.
void set_egress(supervisor::Launch& l, const config::Sandboxfile& file, const supervisor::SandboxPaths& paths,
                const std::vector<proxy::HostPin>& pins = {});

/// Write the applied Sandboxfile (the bytes of file.file) for the egress proxy, atomically.
Result<void> write_egress_snapshot(const config::Sandboxfile& file, const supervisor::SandboxPaths& paths);

/// Apply `desired`'s [egress] to the running sandbox at `paths`: rewrite the snapshot and
/// launch.json's egress section, signal the supervisor (SIGUSR1), and wait until its proxy has
/// reloaded (or says why it cannot), at most `timeout`.
Result<void> hot_update_egress(const config::Sandboxfile& file, const supervisor::Launch& desired,
                               const supervisor::SandboxPaths& paths, std::chrono::milliseconds timeout);

}  // namespace sbx::reconcile
