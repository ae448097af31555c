#pragma once
// The approval step of `sbx up` (reconcile/approval.h): a Sandboxfile the agent may have
// rewritten gets no more than the user approved. A widening is shown as a diff and asked on a
// terminal; without one it is refused unless --yes. A first up asks only on a terminal and only
// when the file grants more than the baseline; without a terminal it is applied and recorded.
#include <string>
#include <vector>

#include "cli/output.h"
#include "common/error.h"
#include "config/sandboxfile.h"
#include "reconcile/approval.h"

namespace sbx::cli {

/// What the approval step decided, for the --json result.
struct ApprovalOutcome {
  std::string how;  // unchanged, narrowed, baseline, first-up, terminal, yes
  std::vector<reconcile::Change> changes;
  std::string record;  // the approval record's path
};

/// Compare what `file` grants with the recorded approval; ask, refuse or record. `yes` approves
/// a widening without a question (sbx up --yes).
Result<ApprovalOutcome> approve_grants(const config::Sandboxfile& file, bool yes, const Output& out);

}  // namespace sbx::cli
