// [secrets]: names never bound, grants of names to hosts, whether inject = "env" is allowed.
#include "policy/check.h"
#include "policy/glob.h"

#include <algorithm>

#include "config/egress_rule.h"

namespace sbx::policy::detail {

namespace {

bool names_match(const std::vector<PatternEntry>& names, const std::string& name) {
  return std::any_of(names.begin(), names.end(), [&](const PatternEntry& n) { return glob_match(n.pattern, name); });
}

}  // namespace

void check_secrets(const config::Sandboxfile& file, const Policy& p, Report& report) {
  const SecretRules& r = p.secrets;
  for (size_t i = 0; i < file.secrets.size(); ++i) {
    const config::Secret& s = file.secrets[i];
    const Item item{ItemKind::secret, i};
    for (const PatternEntry& d : r.deny)
      if (glob_match(d.pattern, s.name))
        report.violations.push_back(violation(p, item, "secrets.deny", d.where, s.location,
                                              "secret '" + s.name + "' may not be given to any sandbox (\"" + d.pattern + "\")",
                                              "remove this [[secret]]"));
    if (s.inject == config::InjectKind::env) {
      if (r.allow_env && !r.allow_env->value)
        report.violations.push_back(violation(p, item, "secrets.allow_env", r.allow_env->where, s.location,
                                              "secret '" + s.name + "' is injected as an environment variable, which this policy does not allow",
                                              "write inject = \"header\" with hosts and header: the VM then never holds the value"));
      if (r.allow) {
        auto g = std::find_if(r.allow->value.begin(), r.allow->value.end(),
                              [&](const SecretGrant& grant) { return grant.env && names_match(grant.names, s.name); });
        if (g == r.allow->value.end())
          report.violations.push_back(violation(p, item, "secrets.allow", r.allow->where, s.location,
                                                "no [[secrets.allow]] grant lets secret '" + s.name + "' be injected as an environment variable",
                                                "use inject = \"header\" for a host a grant names, or ask the policy's owner for a grant"));
        else
          report.constraints.push_back(constraint(p, item, "granted as env", g->where));
      }
      continue;
    }
    if (!r.allow) continue;
    for (const std::string& host : s.hosts) {
      auto g = std::find_if(r.allow->value.begin(), r.allow->value.end(), [&](const SecretGrant& grant) {
        return grant.header && names_match(grant.names, s.name) &&
               std::any_of(grant.hosts.begin(), grant.hosts.end(), [&](const config::EgressRule& h) { return config::host_matches(h, host); });
      });
      if (g == r.allow->value.end())
        report.violations.push_back(violation(p, item, "secrets.allow", r.allow->where, s.location,
                                              "no [[secrets.allow]] grant lets secret '" + s.name + "' be sent to " + host,
                                              "remove " + host + " from hosts, or ask the policy's owner for a grant"));
      else
        report.constraints.push_back(constraint(p, item, "granted for " + host, g->where));
    }
  }
}

}  // namespace sbx::policy::detail
