#include "policy/check.h"

#include <algorithm>

namespace sbx::policy {

bool Report::blocked() const {
  return std::any_of(violations.begin(), violations.end(),
                     [](const Violation& v) { return v.enforcement == Enforcement::enforce; });
}

namespace detail {

Violation violation(const Policy& p, Item item, std::string key, Location policy_at, Location sandboxfile_at,
                    std::string message, std::string fix) {
  return Violation{item, std::move(key), std::move(message), std::move(fix), std::move(sandboxfile_at),
                   std::move(policy_at), p.name, p.enforcement};
}

Constraint constraint(const Policy& p, Item item, std::string what, Location policy_at) {
  return Constraint{item, std::move(what), std::move(policy_at), p.name};
}

Location or_file(const Location& loc, const config::Sandboxfile& file) {
  if (loc.known()) return loc;
  Location l;
  // The loader names every item by the file's display name; without one, its path.
  l.file = !file.agent.location.file.empty() ? file.agent.location.file : file.file.string();
  return l;
}

}  // namespace detail

Report check(const config::Sandboxfile& file, const std::vector<Policy>& policies) {
  Report report;
  for (const Policy& p : policies) {
    detail::check_images(file, p, report);
    detail::check_mounts(file, p, report);
    detail::check_egress(file, p, report);
    detail::check_secrets(file, p, report);
    detail::check_limits(file, p, report);
  }
  // Sorted by where they hit the Sandboxfile, so the report reads top to bottom.
  std::stable_sort(report.violations.begin(), report.violations.end(), [](const Violation& a, const Violation& b) {
    return std::pair{a.sandboxfile_at.line, a.sandboxfile_at.column} < std::pair{b.sandboxfile_at.line, b.sandboxfile_at.column};
  });
  return report;
}

}  // namespace sbx::policy
