// The organisation's limits on a connection the Sandboxfile allowed: ceilings intersect, deny
// lists unite and beat every ceiling, warn policies only record, broken limits refuse everything.
#include <catch2/catch.hpp>

#include "config/egress_rule.h"
#include "proxy/limits.h"

using namespace sbx;
using namespace sbx::proxy;

namespace {

config::EgressRule prule(const std::string& text, const std::string& file, int line) {
  auto r = config::parse_egress_rule(text);
  if (!r) throw std::runtime_error("bad test rule " + text + ": " + r.error().message);
  r->text = text;
  r->location = Location{file, line, 9};
  return *r;
}

// A policy `name` in NAME.toml whose ceiling is written at line 7, deny rules from line 8 on.
PolicyLimit policy(const std::string& name, std::vector<std::string> ceiling, std::vector<std::string> deny = {},
                   bool enforce = true, bool has_ceiling = true) {
  PolicyLimit p;
  p.name = name;
  p.enforce = enforce;
  p.has_ceiling = has_ceiling;
  p.ceiling_at = Location{"/etc/sbx/policies.d/" + name + ".toml", 7, 1};
  for (const auto& c : ceiling) p.ceiling.push_back(prule(c, p.ceiling_at.file, 7));
  int line = 8;
  for (const auto& d : deny) p.deny.push_back(prule(d, p.ceiling_at.file, line++));
  return p;
}

std::shared_ptr<const CompiledLimits> compile(std::vector<PolicyLimit> ps, std::string broken = "") {
  auto c = CompiledLimits::compile(Limits{std::move(ps), std::move(broken)});
  REQUIRE(c);
  return *c;
}

IpAddress ip(const std::string& s) { return *IpAddress::parse(s); }

}  // namespace

TEST_CASE("a host the Sandboxfile allows is refused when it lies outside a policy's ceiling, naming the policy file:line",
          "[proxy][limits][security]") {
  const auto l = compile({policy("acme", {"*.example.com:443"})});
  CHECK(l->decide_host("api.example.com", 443).allowed);
  const auto out = l->decide_host("evil.test", 443);
  CHECK_FALSE(out.allowed);
  CHECK(out.policy == "acme");
  CHECK(out.rule == "/etc/sbx/policies.d/acme.toml:7");
  CHECK(out.reason.find("outside the egress ceiling of policy 'acme'") != std::string::npos);
  const auto port = l->decide_host("api.example.com", 80);
  CHECK_FALSE(port.allowed);
  CHECK(port.reason.find("but not port 80") != std::string::npos);
  // The bare domain is not under "*.example.com" (a wildcard needs a label before it).
  CHECK_FALSE(l->decide_host("example.com", 443).allowed);
}

TEST_CASE("a policy's deny rule beats its own ceiling and the Sandboxfile's allow", "[proxy][limits][security]") {
  const auto l = compile({policy("acme", {"*.example.com"}, {"paste.example.com", "*.upload.example.com"})});
  const auto out = l->decide_host("paste.example.com", 443);
  CHECK_FALSE(out.allowed);
  CHECK(out.rule == "/etc/sbx/policies.d/acme.toml:8");
  CHECK(out.rule_text == "paste.example.com");
  CHECK(out.reason.find("always denied by policy 'acme'") != std::string::npos);
  CHECK(l->decide_host("a.b.upload.example.com", 443).rule == "/etc/sbx/policies.d/acme.toml:9");
  CHECK(l->decide_host("www.example.com", 443).allowed);
  // A deny list alone (no ceiling) refuses only what it lists.
  const auto deny_only = compile({policy("d", {}, {"paste.example.com", "203.0.113.0/24"}, true, false)});
  CHECK(deny_only->decide_host("anything.test", 443).allowed);
  CHECK_FALSE(deny_only->decide_host("PASTE.example.com.", 443).allowed);
  CHECK_FALSE(deny_only->decide_address("x.test", ip("203.0.113.9"), 443, false).allowed);
  CHECK(deny_only->decide_address("x.test", ip("198.51.100.9"), 443, false).allowed);
}

TEST_CASE("wildcard, regex and CIDR ceilings decide at run time what static containment cannot", "[proxy][limits][security]") {
  const auto l = compile({policy("corp", {"re:^[a-z]+\\.corp\\.test$", "*.svc.test:8443", "10.0.0.0/8:443"})});
  CHECK(l->decide_host("git.corp.test", 443).allowed);
  CHECK_FALSE(l->decide_host("git2.corp.test", 443).allowed);  // the regex allows letters only
  CHECK_FALSE(l->decide_host("a.git.corp.test", 443).allowed);
  CHECK(l->decide_host("db.svc.test", 8443).allowed);
  CHECK_FALSE(l->decide_host("db.svc.test", 443).allowed);
  // An IP literal needs a ceiling range; 10/8 holds 10.1.2.3 on 443 only.
  CHECK(l->decide_address("10.1.2.3", ip("10.1.2.3"), 443, true).allowed);
  CHECK_FALSE(l->decide_address("10.1.2.3", ip("10.1.2.3"), 80, true).allowed);
  CHECK_FALSE(l->decide_address("192.0.2.1", ip("192.0.2.1"), 443, true).allowed);
  // A name inside the ceiling that resolves to loopback needs a ceiling range too; an answer
  // inside a ceiling range passes.
  const auto loop = l->decide_address("git.corp.test", ip("127.0.0.1"), 443, false);
  CHECK_FALSE(loop.allowed);
  CHECK(loop.reason.find("loopback") != std::string::npos);
  CHECK(l->decide_address("git.corp.test", ip("10.9.9.9"), 443, false).allowed);
}

TEST_CASE("the ceilings of several policies intersect and their deny lists unite", "[proxy][limits][security]") {
  const auto l = compile({policy("wide", {"*.example.com"}, {"paste.example.com"}),
                          policy("narrow", {"api.example.com", "paste.example.com", "www.example.com"}, {"www.example.com"})});
  CHECK(l->decide_host("api.example.com", 443).allowed);
  const auto other = l->decide_host("cdn.example.com", 443);  // inside "wide", outside "narrow"
  CHECK_FALSE(other.allowed);
  CHECK(other.policy == "narrow");
  CHECK(l->decide_host("paste.example.com", 443).policy == "wide");  // narrow's ceiling allows it; wide denies it
  CHECK(l->decide_host("www.example.com", 443).policy == "narrow");
}

TEST_CASE("a warn policy's ceiling lets the connection through and says what it would have refused", "[proxy][limits]") {
  const auto l = compile({policy("advice", {"*.example.com"}, {}, /*enforce=*/false)});
  const auto out = l->decide_host("elsewhere.test", 443);
  CHECK(out.allowed);
  REQUIRE(out.warnings.size() == 1);
  CHECK(out.warnings[0].find("policy 'advice' (warn) would refuse this (/etc/sbx/policies.d/advice.toml:7)") != std::string::npos);
  CHECK(l->decide_host("api.example.com", 443).warnings.empty());
  // Enforce beats warn: an enforcing policy saying the same still refuses.
  const auto both = compile({policy("advice", {"*.example.com"}, {}, false), policy("strict", {"*.example.com"})});
  const auto refused = both->decide_host("elsewhere.test", 443);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.policy == "strict");
}

TEST_CASE("limits that could not be loaded refuse every connection, saying why", "[proxy][limits][security]") {
  const auto l = compile({}, "system policy /etc/sbx/policies.d/10-org.toml is not trusted: the signature does not match");
  CHECK_FALSE(l->empty());
  const auto out = l->decide_host("api.example.com", 443);
  CHECK_FALSE(out.allowed);
  CHECK(out.rule == "policy");
  CHECK(out.reason.find("cannot be loaded") != std::string::npos);
  CHECK(out.reason.find("10-org.toml is not trusted") != std::string::npos);
  CHECK_FALSE(l->decide_address("10.0.0.1", ip("10.0.0.1"), 443, true).allowed);
  // Policies that limit nothing compile to nothing.
  CHECK(compile({policy("none", {}, {}, true, false)})->empty());
}
