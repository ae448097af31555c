#pragma once
// How a policy report is shown: each violation names the Sandboxfile file:line it hits, the
// policy file:line of the rule it breaks, and the fix; --json carries the same fields.
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "policy/check.h"

namespace sbx::policy {

/// One violation, compiler-style:
///   Sandboxfile:12:1: error: <message>
///     policy: <file>:<line>:<col> (<key>, policy '<name>', enforce)
///     fix: <fix>
/// "warning:" instead of "error:" for a warn policy.
std::string render_violation(const Violation& v);

/// Every violation, then one summary line naming the file.
std::string render_report(const Report& r, const std::string& sandboxfile);

/// {"ok", "violations": [{message, fix, key, policy, enforcement, sandboxfile, policy_rule}]}.
nlohmann::json report_json(const Report& r);

/// The constraints of `item` as short lines "<what> (<policy file:line>)", for `sbx plan`.
std::vector<std::string> constraint_lines(const Report& r, Item item);

}  // namespace sbx::policy
