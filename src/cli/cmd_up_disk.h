#pragma once
// The sandbox disk's part of `sbx up` that needs the terminal: the plan said in one line, and the
// question before a reset throws the guest's changes away (reconcile/apply_up.cpp carries it out).
#include <optional>

#include "cli/output.h"
#include "common/error.h"
#include "config/sandboxfile.h"
#include "reconcile/launch_builder.h"
#include "reconcile/sandbox_disk.h"
#include "supervisor/state.h"

namespace sbx::cli {

/// The disk plan for a boot of `file` with `artifacts`, said in one line. A reset (a changed
/// image) asks on a terminal and is refused without one unless `yes`; `fresh` (the user asked
/// for it) resets without a question.
Result<reconcile::DiskPlan> decide_disk(const config::Sandboxfile& file, const reconcile::Artifacts& artifacts,
                                        const supervisor::SandboxPaths& paths, bool fresh, bool yes, const Output& out);

}  // namespace sbx::cli
