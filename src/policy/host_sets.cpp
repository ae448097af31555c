#include "policy/host_sets.h"

#include <algorithm>
#include <utility>

#include "common/text.h"
#include "config/egress_rule.h"

namespace sbx::policy {

namespace {
using config::HostPatternKind;

unsigned prefix_of(const config::EgressRule& r) {
  const size_t slash = r.pattern.find('/');
  return static_cast<unsigned>(text::parse_uint(std::string_view(r.pattern).substr(slash + 1), 0, 128).value_or(0));
}

std::string base_of(const config::EgressRule& r) { return r.pattern.substr(0, r.pattern.find('/')); }

bool ports_within(const std::vector<std::uint16_t>& inner, const std::vector<std::uint16_t>& outer) {
  return std::includes(outer.begin(), outer.end(), inner.begin(), inner.end());  // both sorted
}

bool ports_meet(const std::vector<std::uint16_t>& a, const std::vector<std::uint16_t>& b) {
  return std::any_of(a.begin(), a.end(), [&](std::uint16_t p) { return std::binary_search(b.begin(), b.end(), p); });
}

// `name` is `suffix` or a subdomain of it.
bool at_or_under(const std::string& name, const std::string& suffix) {
  return name == suffix || (name.size() > suffix.size() && name.ends_with(suffix) && name[name.size() - suffix.size() - 1] == '.');
}

bool hosts_contained(const config::EgressRule& outer, const config::EgressRule& inner) {
  switch (inner.kind) {
    case HostPatternKind::exact: return outer.kind != HostPatternKind::cidr && config::host_matches(outer, inner.pattern);
    case HostPatternKind::wildcard:
      if (outer.kind == HostPatternKind::wildcard) return at_or_under(inner.pattern, outer.pattern);
      return outer.kind == HostPatternKind::regex && outer.pattern == ".+";
    case HostPatternKind::regex:
      return outer.kind == HostPatternKind::regex && (outer.pattern == inner.pattern || outer.pattern == ".+");
    case HostPatternKind::cidr:
      return outer.kind == HostPatternKind::cidr && prefix_of(outer) <= prefix_of(inner) && config::host_matches(outer, base_of(inner));
  }
  return false;
}

bool hosts_may_overlap(const config::EgressRule& a, const config::EgressRule& b) {
  if ((a.kind == HostPatternKind::cidr) != (b.kind == HostPatternKind::cidr)) return false;  // names vs addresses
  if (a.kind == HostPatternKind::cidr) return config::host_matches(a, base_of(b)) || config::host_matches(b, base_of(a));
  if (a.kind == HostPatternKind::exact) return config::host_matches(b, a.pattern);
  if (b.kind == HostPatternKind::exact) return config::host_matches(a, b.pattern);
  if (a.kind == HostPatternKind::wildcard && b.kind == HostPatternKind::wildcard)
    return at_or_under(a.pattern, b.pattern) || at_or_under(b.pattern, a.pattern);
  return true;  // a regex against a wildcard or regex: cannot be decided, assume they meet
}

struct Range {
  const char* cidr;
  const char* name;
};
constexpr Range kSpecialRanges[] = {
    {"0.0.0.0/8", "this-network"},   {"10.0.0.0/8", "private"},      {"100.64.0.0/10", "CGNAT"},
    {"127.0.0.0/8", "loopback"},     {"169.254.0.0/16", "link-local (cloud metadata)"},
    {"172.16.0.0/12", "private"},    {"192.168.0.0/16", "private"},  {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"},     {"::/128", "unspecified"},      {"::1/128", "loopback"},
    {"::ffff:0:0/96", "IPv4-mapped"}, {"fc00::/7", "unique-local"},  {"fe80::/10", "link-local"},
    {"ff00::/8", "multicast"},
};

}  // namespace

bool contains(const config::EgressRule& outer, const config::EgressRule& inner) {
  return ports_within(inner.ports, outer.ports) && hosts_contained(outer, inner);
}

bool may_overlap(const config::EgressRule& a, const config::EgressRule& b) {
  return ports_meet(a.ports, b.ports) && hosts_may_overlap(a, b);
}

bool is_ip_literal(const config::EgressRule& r) {
  if (r.kind != HostPatternKind::cidr) return false;
  const bool v6 = r.pattern.find(':') != std::string::npos;
  return prefix_of(r) == (v6 ? 128u : 32u);
}

std::string private_range_in(const config::EgressRule& r) {
  if (r.kind != HostPatternKind::cidr) return {};
  for (const Range& range : kSpecialRanges) {
    auto special = config::parse_host_pattern(range.cidr);
    if (!special) continue;
    if (hosts_may_overlap(*special, r)) return std::string(range.name) + " " + range.cidr;
  }
  return {};
}

}  // namespace sbx::policy
