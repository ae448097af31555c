// Unit tests for rule compilation and decisions (src/proxy/rules.*).
#include <catch2/catch.hpp>

#include "proxy/address.h"
#include "proxy/rules.h"
#include "test_support.h"

using namespace sbx::proxy;
using sbx::proxy::test::egress;
using sbx::proxy::test::rule;

namespace {
std::shared_ptr<const RuleSet> compile(const sbx::config::Egress& e) {
  auto r = RuleSet::compile(e);
  REQUIRE(r);
  return *r;
}
}  // namespace

TEST_CASE("exact, wildcard and regex rules decide hosts and ports, and deny beats allow", "[proxy]") {
  auto rs = compile(egress({"api.example.com", "*.npmjs.org", "re:^api[0-9]+\\.re\\.test$", "db.example.com:5432"},
                           {"evil.npmjs.org"}));
  CHECK(rs->decide_host("api.example.com", 443).allowed);
  CHECK(rs->decide_host("API.Example.COM.", 80).allowed);
  CHECK_FALSE(rs->decide_host("example.com", 443).allowed);
  CHECK(rs->decide_host("registry.npmjs.org", 443).allowed);
  CHECK(rs->decide_host("a.b.npmjs.org", 443).allowed);
  CHECK_FALSE(rs->decide_host("npmjs.org", 443).allowed);  // a wildcard is not the apex
  CHECK_FALSE(rs->decide_host("xnpmjs.org", 443).allowed);
  CHECK(rs->decide_host("api12.re.test", 443).allowed);
  CHECK_FALSE(rs->decide_host("api.re.test", 443).allowed);
  auto port = rs->decide_host("api.example.com", 8443);
  CHECK_FALSE(port.allowed);
  CHECK(port.reason == Reason::port_not_allowed);
  CHECK(rs->rule_ref(port) == "Sandboxfile:10");
  CHECK(rs->fix_line(port, "api.example.com", 8443, "") == "allow = [\"api.example.com:8443\"]");
  CHECK(rs->decide_host("db.example.com", 5432).allowed);
  CHECK_FALSE(rs->decide_host("db.example.com", 443).allowed);
  auto deny = rs->decide_host("evil.npmjs.org", 443);
  CHECK_FALSE(deny.allowed);
  CHECK(deny.reason == Reason::denied_rule);
  CHECK(rs->rule_ref(deny) == "Sandboxfile:14");
  CHECK(rs->fix_line(deny, "evil.npmjs.org", 443, "").empty());
  auto none = rs->decide_host("other.org", 443);
  CHECK(none.reason == Reason::not_allowed);
  CHECK(rs->rule_ref(none) == "default");
  CHECK(rs->fix_line(none, "other.org", 443, "") == "allow = [\"other.org\"]");
}

TEST_CASE("addresses: literals need a CIDR rule, special ranges are refused unless allowed", "[proxy]") {
  auto rs = compile(egress({"allowed.test", "127.0.0.0/8:8080"}));
  CHECK(rs->decide_address(*IpAddress::parse("8.8.8.8"), 443, false).allowed);
  auto lit = rs->decide_address(*IpAddress::parse("8.8.8.8"), 443, true);
  CHECK(lit.reason == Reason::literal_not_allowed);
  CHECK(rs->fix_line(lit, "8.8.8.8", 443, "") == "allow = [\"8.8.8.8/32\"]");
  auto meta = rs->decide_address(*IpAddress::parse("169.254.169.254"), 80, false);
  CHECK(meta.reason == Reason::special_address);
  CHECK(rs->decide_address(*IpAddress::parse("127.0.0.1"), 8080, false).allowed);
  CHECK(rs->decide_address(*IpAddress::parse("::ffff:127.0.0.1"), 8080, true).allowed);
  CHECK_FALSE(rs->decide_address(*IpAddress::parse("127.0.0.1"), 9090, false).allowed);
}

TEST_CASE("ten thousand rules compile and decide correctly across RE2 set shards", "[proxy]") {
  sbx::config::Egress e;
  for (int i = 0; i < 10000; ++i) {
    std::string t = i % 3 == 0 ? "host" + std::to_string(i) + ".example.com"
                  : i % 3 == 1 ? "*.d" + std::to_string(i) + ".example.org"
                               : "re:^r" + std::to_string(i) + "-[a-z]+\\.example\\.net$";
    e.allow.push_back(rule(t, i + 1));
  }
  auto rs = compile(e);
  CHECK(rs->decide_host("host9999.example.com", 443).allowed);
  auto v = rs->decide_host("x.d9997.example.org", 443);
  CHECK(v.allowed);
  CHECK(rs->rule_ref(v) == "Sandboxfile:9998");
  CHECK(rs->decide_host("r9998-abc.example.net", 443).allowed);
  CHECK_FALSE(rs->decide_host("r9998-123.example.net", 443).allowed);
  CHECK_FALSE(rs->decide_host("nothing.example.com", 443).allowed);
}
