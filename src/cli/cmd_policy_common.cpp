#include "cli/cmd_policy_common.h"

#include <iostream>

#include "policy/discovery.h"
#include "policy/explain.h"

namespace sbx::cli {

Result<policy::Report> enforce_policies(const config::Sandboxfile& file, const Output& out) {
  const auto policies = SBX_TRY(policy::discover_policies());
  policy::Report report = policy::check(file, policies);
  if (!report.blocked()) {
    if (!out.json())
      for (const auto& v : report.violations) std::cerr << policy::render_violation(v);
    return report;
  }
  Error e = make_error(ErrorCode::permission, "", "fix each violation above, or ask the policy's owner; 'sbx policy check' lists them");
  size_t enforced = 0;
  for (const auto& v : report.violations) {
    enforced += v.enforcement == policy::Enforcement::enforce;
    e.details.push_back(Diagnostic{v.sandboxfile_at, v.message + " (" + v.key + ", " + v.policy_at.str() + ")", v.fix, {}});
  }
  e.message = file.file.string() + " breaks " + std::to_string(enforced) + (enforced == 1 ? " enforced policy rule" : " enforced policy rules");
  e.location = report.violations.front().sandboxfile_at;
  if (!out.json()) {
    for (const auto& v : report.violations) std::cerr << policy::render_violation(v);
    e.details.clear();  // shown above, with the policy line each
  }
  return std::unexpected(std::move(e));
}

}  // namespace sbx::cli
