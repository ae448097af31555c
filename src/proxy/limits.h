#pragma once
// The organisation's limits on egress at run time: every active policy's `[egress] ceiling` (the
// most any sandbox may reach) and `deny` list, applied to each connection the Sandboxfile's own
// rules allowed. A connection passes only if it lies inside the ceiling of every enforcing policy
// and on no policy's deny list (POLICY.md's merge table: ceilings intersect, deny lists unite).
// A `warn` policy never refuses; the log line records what it would have refused. Limits that
// could not be loaded ("broken") refuse every connection: a policy the proxy cannot read is never
// taken to mean "no limit". Kept free of the policy engine: the egress child converts its
// Policy objects into these.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"
#include "proxy/address.h"
#include "proxy/rules.h"

namespace sbx::proxy {

/// One policy's egress limits, as written.
struct PolicyLimit {
  std::string name;                              // the policy's name ("acme-strict")
  bool enforce = true;                           // false: warn only
  bool has_ceiling = false;
  std::vector<config::EgressRule> ceiling;       // the most a sandbox may reach
  Location ceiling_at;                           // where `ceiling` is written (file:line)
  std::vector<config::EgressRule> deny;          // never reachable (each rule keeps file:line)
};

/// Every active policy's limits, or why they could not be loaded.
struct Limits {
  std::vector<PolicyLimit> policies;
  std::string broken;  // non-empty: the policies could not be loaded; every connection is refused
};

/// What the limits say about one connection the Sandboxfile allowed.
struct LimitVerdict {
  bool allowed = true;
  std::string policy;     // the refusing policy's name ("" when allowed or broken)
  std::string rule;       // "policy.toml:7" (the ceiling key or the deny entry), "policy" when broken
  std::string rule_text;  // "egress.ceiling of policy 'x'" or the deny rule as written
  std::string reason;     // one sentence
  std::vector<std::string> warnings;  // what `warn` policies would have refused
};

/// Limits compiled once per load; immutable, shared by the connections that started under them.
class CompiledLimits {
 public:
  static Result<std::shared_ptr<const CompiledLimits>> compile(const Limits& limits);

  /// Decide on a host name (not an IP literal) and port.
  LimitVerdict decide_host(std::string_view host, std::uint16_t port) const;
  /// Decide on an address: the IP literal `host` (`literal`) or one the name `host` resolved to.
  LimitVerdict decide_address(std::string_view host, const IpAddress& a, std::uint16_t port, bool literal) const;

  /// Whether nothing is limited (no policy states a ceiling or a deny rule, and none is broken).
  bool empty() const { return layers_.empty() && broken_.empty(); }
  /// How many policies state a ceiling, how many deny rules in all (for log lines).
  size_t ceilings() const;
  size_t deny_rules() const;
  const std::string& broken() const { return broken_; }

 private:
  struct Layer {
    PolicyLimit limit;
    std::shared_ptr<const RuleSet> rules;  // allow = ceiling (when any), deny = deny
  };
  template <class Decide>
  LimitVerdict decide(std::string_view host, std::uint16_t port, Decide&& d) const;

  std::vector<Layer> layers_;
  std::string broken_;
};

}  // namespace sbx::proxy
