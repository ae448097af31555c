#pragma once
// What `sbx up`, `sbx validate` and the `sbx policy` commands share: checking a Sandboxfile
// against the active policies, and stopping on an enforced violation.
#include <vector>

#include "cli/output.h"
#include "common/error.h"
#include "config/sandboxfile.h"
#include "policy/check.h"

namespace sbx::cli {

/// Check `file` against every active policy (policy/discovery.h). Warnings are printed; an
/// enforced violation, or a policy that cannot be read or trusted, is the error (its details
/// are the violations). On success, the report (for `sbx plan`).
Result<policy::Report> enforce_policies(const config::Sandboxfile& file, const Output& out);

}  // namespace sbx::cli
