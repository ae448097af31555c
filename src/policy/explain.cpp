#include "policy/explain.h"

#include <nlohmann/json.hpp>

namespace sbx::policy {

std::string render_violation(const Violation& v) {
  std::string out;
  if (v.sandboxfile_at.known()) out += v.sandboxfile_at.str() + ": ";
  out += std::string(v.enforcement == Enforcement::enforce ? "error: " : "warning: ") + v.message + "\n";
  out += "  policy: " + v.policy_at.str() + " (" + v.key + ", policy '" + v.policy + "', " +
         std::string(to_string(v.enforcement)) + ")\n";
  out += "  fix: " + v.fix + "\n";
  return out;
}

std::string render_report(const Report& r, const std::string& sandboxfile) {
  std::string out;
  size_t enforced = 0;
  for (const Violation& v : r.violations) {
    out += render_violation(v);
    enforced += v.enforcement == Enforcement::enforce;
  }
  const size_t warned = r.violations.size() - enforced;
  if (r.violations.empty()) return sandboxfile + ": complies with every active policy\n";
  out += sandboxfile + ": " + std::to_string(r.violations.size()) + (r.violations.size() == 1 ? " policy violation" : " policy violations") +
         " (" + std::to_string(enforced) + " enforced, " + std::to_string(warned) + (warned == 1 ? " warning" : " warnings") + ")\n";
  return out;
}

nlohmann::json report_json(const Report& r) {
  nlohmann::json list = nlohmann::json::array();
  for (const Violation& v : r.violations)
    list.push_back({{"message", v.message},
                    {"fix", v.fix},
                    {"key", v.key},
                    {"policy", v.policy},
                    {"enforcement", to_string(v.enforcement)},
                    {"sandboxfile", v.sandboxfile_at.str()},
                    {"policy_rule", v.policy_at.str()}});
  return {{"ok", !r.blocked()}, {"violations", list}};
}

std::vector<std::string> constraint_lines(const Report& r, Item item) {
  std::vector<std::string> out;
  for (const Constraint& c : r.constraints)
    if (c.item == item) out.push_back(c.what + " (policy '" + c.policy + "', " + c.policy_at.str() + ")");
  for (const Violation& v : r.violations)
    if (v.item == item) out.push_back(std::string(v.enforcement == Enforcement::enforce ? "VIOLATES " : "warning: ") + v.key +
                                      " (policy '" + v.policy + "', " + v.policy_at.str() + ")");
  return out;
}

}  // namespace sbx::policy
