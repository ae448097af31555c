#pragma once
// Parsing and matching of [egress] rules: exact hosts, "*.example.com" wildcards, "re:" RE2
// patterns (compiled here, so a bad one is reported at load), CIDR blocks and IP literals.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::config {

/// Ports a rule gets when it names none.
inline constexpr std::uint16_t kDefaultPorts[] = {80, 443};

/// Parse the string form of a rule: a host pattern with an optional ":port[,port...]" suffix.
/// Ports are sorted, de-duplicated, and default to 80 and 443. `location` is left empty.
Result<EgressRule> parse_egress_rule(std::string_view text);

/// Parse a bare host pattern (no port suffix) into kind and normalised pattern; ports untouched.
Result<EgressRule> parse_host_pattern(std::string_view host);

/// Parse a single port or a comma-separated port list ("443", "80,443").
Result<std::vector<std::uint16_t>> parse_port_list(std::string_view text);

/// Whether a host name (lower case, no trailing dot) or IP literal is matched by the rule's pattern.
/// Ports are not considered. Used for load-time cross checks (secret hosts must be allowed).
bool host_matches(const EgressRule& rule, std::string_view host);

/// Matches hosts against many rules at once (ports not considered): exact hosts in a hash set,
/// wildcards by suffix, regexes in one compiled RE2::Set, CIDRs by masking. Built once, then
/// each lookup costs about one set match, whatever the rule count.
class HostMatcher {
 public:
  explicit HostMatcher(const std::vector<EgressRule>& rules);
  ~HostMatcher();
  HostMatcher(const HostMatcher&) = delete;
  HostMatcher& operator=(const HostMatcher&) = delete;
  /// Whether any rule matches `host` (normalised here).
  bool matches(std::string_view host) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Lower-case a host and drop one trailing dot, the form rules are matched against.
std::string normalise_host(std::string_view host);

}  // namespace sbx::config
