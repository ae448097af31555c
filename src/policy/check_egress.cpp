// [egress]: always-denied hosts, the ceiling, which rule kinds are allowed, learn mode. These are
// the static checks; wildcard and regex containment is decided conservatively (host_sets.h): a
// rule that cannot be shown to stay inside the ceiling or outside a denied host is a violation,
// and copying the policy's deny rule into the Sandboxfile's own deny list always resolves one.
#include "policy/check.h"
#include "policy/host_sets.h"

#include <algorithm>

namespace sbx::policy::detail {

namespace {

std::string quoted(const config::EgressRule& r) { return "\"" + r.text + "\""; }

}  // namespace

void check_egress(const config::Sandboxfile& file, const Policy& p, Report& report) {
  const EgressRules& r = p.egress;
  const config::Egress& e = file.egress;
  const Location egress_at = or_file(e.location, file);
  const bool learn = e.mode == config::EgressMode::learn;
  if (learn && r.allow_learn && !r.allow_learn->value)
    report.violations.push_back(violation(p, {ItemKind::egress}, "egress.allow_learn", r.allow_learn->where, egress_at,
                                          "[egress] mode = \"learn\" allows every host, which this policy does not allow",
                                          "write mode = \"enforce\" and list the hosts in allow"));
  if (learn && r.ceiling)
    report.violations.push_back(violation(p, {ItemKind::egress}, "egress.ceiling", r.ceiling->where, egress_at,
                                          "[egress] mode = \"learn\" reaches hosts outside this policy's ceiling",
                                          "write mode = \"enforce\" and allow only hosts inside the ceiling"));
  // A policy's deny rule must be impossible to reach: no allow rule may overlap it unless the
  // Sandboxfile denies it too (deny beats allow).
  for (const config::EgressRule& d : r.deny) {
    const bool denied_here = std::any_of(e.deny.begin(), e.deny.end(), [&](const config::EgressRule& f) { return contains(f, d); });
    if (denied_here) continue;
    if (learn) {
      report.violations.push_back(violation(p, {ItemKind::egress}, "egress.deny", d.location, egress_at,
                                            "[egress] mode = \"learn\" reaches " + quoted(d) + ", which this policy always denies",
                                            "add " + quoted(d) + " to [egress] deny, or write mode = \"enforce\""));
      continue;
    }
    for (size_t i = 0; i < e.allow.size(); ++i)
      if (may_overlap(e.allow[i], d))
        report.violations.push_back(violation(p, {ItemKind::egress_rule, i}, "egress.deny", d.location, e.allow[i].location,
                                              "allow rule " + quoted(e.allow[i]) + " can reach " + quoted(d) +
                                                  ", which this policy always denies",
                                              "add " + quoted(d) + " to [egress] deny (deny beats allow), or narrow the rule"));
  }
  for (size_t i = 0; i < e.allow.size(); ++i) {
    const config::EgressRule& a = e.allow[i];
    const Item item{ItemKind::egress_rule, i};
    if (!r.deny.empty())
      report.constraints.push_back(constraint(p, item, "kept clear of " + std::to_string(r.deny.size()) + " always-denied rules",
                                              r.deny.front().location));
    if (r.ceiling) {
      auto within = std::find_if(r.ceiling->value.begin(), r.ceiling->value.end(),
                                 [&](const config::EgressRule& c) { return contains(c, a); });
      if (within == r.ceiling->value.end())
        report.violations.push_back(violation(
            p, item, "egress.ceiling", r.ceiling->where, a.location,
            "allow rule " + quoted(a) + " is not inside this policy's egress ceiling",
            "allow only hosts and ports the ceiling lists (a wildcard or regex must be one the ceiling itself names)"));
      else
        report.constraints.push_back(constraint(p, item, "inside the ceiling (" + quoted(*within) + ")", within->location));
    }
    if (a.kind != config::HostPatternKind::cidr) continue;
    const bool literal = is_ip_literal(a);
    if (literal && r.allow_ip_literals && !r.allow_ip_literals->value)
      report.violations.push_back(violation(p, item, "egress.allow_ip_literals", r.allow_ip_literals->where, a.location,
                                            "allow rule " + quoted(a) + " names an IP address, which this policy does not allow",
                                            "allow the host by its DNS name instead"));
    if (!literal && r.allow_cidrs && !r.allow_cidrs->value)
      report.violations.push_back(violation(p, item, "egress.allow_cidrs", r.allow_cidrs->where, a.location,
                                            "allow rule " + quoted(a) + " is an address range, which this policy does not allow",
                                            "allow the hosts by their DNS names instead"));
    if (const std::string range = private_range_in(a); !range.empty() && r.allow_private_ranges && !r.allow_private_ranges->value)
      report.violations.push_back(violation(p, item, "egress.allow_private_ranges", r.allow_private_ranges->where, a.location,
                                            "allow rule " + quoted(a) + " reaches the " + range + " range, which this policy does not allow",
                                            "remove the rule; a sandbox on this machine may reach only public addresses"));
  }
}

}  // namespace sbx::policy::detail
