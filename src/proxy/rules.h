#pragma once
// The compiled egress rules of one sandbox: exact hosts in a hash table, wildcard and `re:`
// rules in RE2::Sets (sharded, memory sized from the rule count), CIDR ranges in a table,
// port lists per rule. Compiled once per rule set; deciding allocates nothing.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"
#include "proxy/address.h"

namespace re2 {
class RE2;
}

namespace sbx::proxy {

/// Why a decision came out as it did.
enum class Reason : std::uint8_t {
  allowed_rule,        // an allow rule matched host and port
  denied_rule,         // a deny rule matched
  not_allowed,         // no allow rule matches the host (default deny)
  port_not_allowed,    // an allow rule matches the host but not this port
  literal_not_allowed, // an IP literal with no CIDR allow rule
  special_address,     // the host resolved to loopback/private/link-local/... with no CIDR allow
  bad_host,            // the host is not a valid DNS name
  engine_error,        // the regex engine failed (out of memory): fail closed
};

/// The outcome of one decision; `rule` indexes RuleSet::rule(), -1 for the default.
struct Verdict {
  bool allowed = false;
  Reason reason = Reason::not_allowed;
  bool deny_list = false;  // `rule` is in the deny list
  int rule = -1;
  std::string_view range;  // special_address: which range (static storage)
};

/// One compiled rule set. Immutable; shared by every connection that started under it.
class RuleSet {
 public:
  /// Compile `egress` (the source file name is used in messages).
  static Result<std::shared_ptr<const RuleSet>> compile(const config::Egress& egress);
  ~RuleSet();

  /// Decide on a host name (not an IP literal) and port, before resolution.
  Verdict decide_host(std::string_view host, std::uint16_t port) const;
  /// Decide on an address: an IP literal (`literal`) or one the name resolved to.
  Verdict decide_address(const IpAddress& a, std::uint16_t port, bool literal) const;

  /// True in learn mode: rule refusals are logged, not enforced (SSRF still is).
  bool learn() const { return learn_; }
  /// The rule a verdict names.
  const config::EgressRule& rule(const Verdict& v) const { return v.deny_list ? deny_[v.rule] : allow_[v.rule]; }
  /// "Sandboxfile:12" for a rule, "default" for none.
  std::string rule_ref(const Verdict& v) const;
  /// One sentence on why.
  std::string explain(const Verdict& v, std::string_view host, std::uint16_t port) const;
  /// The line to add to the Sandboxfile to allow this, or "" when no line would help (deny rule).
  std::string fix_line(const Verdict& v, std::string_view host, std::uint16_t port, std::string_view address) const;

  struct Patterns;  // one list (allow or deny) compiled

 private:
  RuleSet() = default;
  bool learn_ = false;
  std::vector<config::EgressRule> allow_, deny_;
  std::unique_ptr<Patterns> allow_p_, deny_p_;
};

/// Normalise a host for matching: lower case, no trailing dot. Returns false if invalid.
bool normalise_host(std::string_view in, std::string& out);

/// The Sandboxfile text of an allow rule for `pattern` and `port` ("" port list when 80/443).
std::string rule_line(std::string_view pattern, std::uint16_t port);

}  // namespace sbx::proxy
