#include <catch2/catch.hpp>

#include "config/egress_rule.h"

using namespace sbx::config;

namespace {
EgressRule rule(std::string_view text) {
  auto r = parse_egress_rule(text);
  INFO(text << ": " << (r ? "" : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}
std::string error_of(std::string_view text) {
  auto r = parse_egress_rule(text);
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}
}  // namespace

TEST_CASE("an exact host rule is lower-cased, loses a trailing dot and defaults to ports 80 and 443", "[config][egress]") {
  const EgressRule r = rule("API.GitHub.com.");
  CHECK(r.kind == HostPatternKind::exact);
  CHECK(r.pattern == "api.github.com");
  CHECK(r.ports == std::vector<std::uint16_t>{80, 443});
  CHECK(r.text == "API.GitHub.com.");
}

TEST_CASE("a port suffix gives a sorted, de-duplicated port list", "[config][egress]") {
  CHECK(rule("example.com:443").ports == std::vector<std::uint16_t>{443});
  CHECK(rule("example.com:8443,443,8443").ports == std::vector<std::uint16_t>{443, 8443});
  CHECK(error_of("example.com:0") == "port 0 is out of range");
  CHECK(error_of("example.com:65536") == "port 65536 is out of range");
  CHECK(error_of("example.com:https") == "'https' is not a port number");
  CHECK(error_of("example.com:") == "missing port after ':'");
  CHECK(error_of("example.com:443,") == "'' is not a port number");
}

TEST_CASE("a wildcard rule matches subdomains only, not the apex", "[config][egress]") {
  const EgressRule r = rule("*.npmjs.org:443");
  CHECK(r.kind == HostPatternKind::wildcard);
  CHECK(r.pattern == "npmjs.org");
  CHECK(host_matches(r, "registry.npmjs.org"));
  CHECK(host_matches(r, "a.b.npmjs.org"));
  CHECK(host_matches(r, "REGISTRY.NPMJS.ORG."));
  CHECK_FALSE(host_matches(r, "npmjs.org"));
  CHECK_FALSE(host_matches(r, "evilnpmjs.org"));
  CHECK_FALSE(host_matches(r, "npmjs.org.evil.com"));
}

TEST_CASE("a star anywhere but the whole first label is rejected, and a lone star too", "[config][egress]") {
  CHECK(error_of("foo.*.example.com").find("'*' is allowed only as the whole first label") != std::string::npos);
  CHECK(error_of("*foo.example.com").find("'*' is allowed only") != std::string::npos);
  CHECK(error_of("*") == "'*' alone would allow every host");
  CHECK(error_of("*.") == "'*' alone would allow every host");
}

TEST_CASE("a regex rule is compiled at parse time and matches the whole host", "[config][egress]") {
  const EgressRule r = rule("re:api[0-9]+\\.example\\.com");
  CHECK(r.kind == HostPatternKind::regex);
  CHECK(r.pattern == "api[0-9]+\\.example\\.com");
  CHECK(r.ports == std::vector<std::uint16_t>{80, 443});
  CHECK(host_matches(r, "api12.example.com"));
  CHECK_FALSE(host_matches(r, "xapi12.example.com"));       // implicit anchors
  CHECK_FALSE(host_matches(r, "api12.example.com.evil"));
  CHECK(error_of("re:(abc").starts_with("invalid RE2 pattern: missing )"));
  CHECK(error_of("re:") == "the 're:' pattern is empty");
  CHECK(error_of("re:" + std::string(2000, 'a')).find("longer than 1024") != std::string::npos);
}

TEST_CASE("a regex string rule keeps its colons: everything after re: is the pattern", "[config][egress]") {
  const EgressRule r = rule("re:^a:b$");
  CHECK(r.pattern == "^a:b$");
  CHECK(r.ports == std::vector<std::uint16_t>{80, 443});
}

TEST_CASE("CIDR rules are canonical, refuse host bits and over-long prefixes", "[config][egress]") {
  const EgressRule v4 = rule("10.0.0.0/8:5432");
  CHECK(v4.kind == HostPatternKind::cidr);
  CHECK(v4.pattern == "10.0.0.0/8");
  CHECK(v4.ports == std::vector<std::uint16_t>{5432});
  CHECK(host_matches(v4, "10.200.3.4"));
  CHECK_FALSE(host_matches(v4, "11.0.0.1"));
  CHECK_FALSE(host_matches(v4, "example.com"));
  const EgressRule v6 = rule("FD00:0::/8");
  CHECK(v6.pattern == "fd00::/8");
  CHECK(v6.ports == std::vector<std::uint16_t>{80, 443});
  CHECK(host_matches(v6, "fd12::1"));
  CHECK_FALSE(host_matches(v6, "10.0.0.1"));
  CHECK(error_of("10.0.0.1/8") == "'10.0.0.1/8' has bits set after the prefix");
  CHECK(parse_egress_rule("10.0.0.1/8").error().hint == "did you mean \"10.0.0.0/8\"?");
  CHECK(error_of("10.0.0.0/33").starts_with("prefix length /33"));
  CHECK(error_of("10.0.0.0/x") == "the prefix length 'x' is not a number");
  CHECK(error_of("300.0.0.0/8") == "'300.0.0.0' is not an IPv4 or IPv6 address");
}

TEST_CASE("IP literals become single-address CIDR rules, and IPv6 takes ports only in brackets", "[config][egress]") {
  CHECK(rule("192.168.1.10").pattern == "192.168.1.10/32");
  const EgressRule bracketed = rule("[2001:db8::1]:8080");
  CHECK(bracketed.pattern == "2001:db8::1/128");
  CHECK(bracketed.ports == std::vector<std::uint16_t>{8080});
  const EgressRule bare = rule("2001:db8::1");
  CHECK(bare.pattern == "2001:db8::1/128");
  CHECK(bare.ports == std::vector<std::uint16_t>{80, 443});
  CHECK(host_matches(bare, "[2001:db8::1]"));
  CHECK(error_of("[::1").starts_with("missing ']'"));
  CHECK(error_of("10.0.0").find("looks like an IP address") != std::string::npos);
}

TEST_CASE("invalid host names say which label is wrong", "[config][egress]") {
  CHECK(error_of("a..b").find("empty label") != std::string::npos);
  CHECK(error_of("-a.com").find("'-a' is not a valid host label") != std::string::npos);
  CHECK(error_of("a b.com").find("is not a valid host label") != std::string::npos);
  CHECK(error_of(std::string(64, 'a') + ".com").find("is not a valid host label") != std::string::npos);
  CHECK(error_of(std::string(250, 'a') + ".com") == "the host is longer than 253 characters");
  CHECK(rule("under_score.example.com").pattern == "under_score.example.com");
}

TEST_CASE("an exact rule matches only its host", "[config][egress]") {
  const EgressRule r = rule("api.github.com");
  CHECK(host_matches(r, "api.github.com"));
  CHECK(host_matches(r, "API.GITHUB.COM."));
  CHECK_FALSE(host_matches(r, "github.com"));
  CHECK_FALSE(host_matches(r, "x.api.github.com"));
}

TEST_CASE("a HostMatcher agrees with host_matches for every rule kind", "[config][egress]") {
  std::vector<EgressRule> rules;
  for (const char* t : {"api.github.com", "*.npmjs.org", "re:^api[0-9]+\\.example\\.com$", "10.0.0.0/8", "[2001:db8::1]"})
    rules.push_back(*parse_egress_rule(t));
  const HostMatcher m(rules);
  for (const char* host : {"api.github.com", "API.GITHUB.COM.", "github.com", "registry.npmjs.org", "a.b.npmjs.org",
                           "npmjs.org", "api7.example.com", "xapi7.example.com", "10.1.2.3", "11.1.2.3",
                           "2001:db8::1", "2001:db8::2", ""}) {
    bool any = false;
    for (const auto& r : rules) any = any || host_matches(r, host);
    INFO(host);
    CHECK(m.matches(host) == any);
  }
}

TEST_CASE("a HostMatcher compiles thousands of regex rules into one set", "[config][egress]") {
  std::vector<EgressRule> rules;
  for (int i = 0; i < 3000; ++i) rules.push_back(*parse_egress_rule("re:^h" + std::to_string(i) + "[a-z]*\\.example\\.com$"));
  const HostMatcher m(rules);
  CHECK(m.matches("h2999abc.example.com"));
  CHECK(m.matches("h0.example.com"));
  CHECK_FALSE(m.matches("h3000.example.com"));
}
