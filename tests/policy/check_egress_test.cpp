#include <catch2/catch.hpp>

#include "policy_env.h"

using namespace sbx::policy;
using namespace sbx::policy::test;
namespace config = sbx::config;

namespace {

std::vector<std::string> egress_violations(std::string_view policy_egress, std::string_view sandbox_egress) {
  const Policy p = policy_ok("version = 1\n[egress]\n" + std::string(policy_egress));
  return violated(sandboxfile("version = 1\n[egress]\n" + std::string(sandbox_egress)), {p});
}

using Keys = std::vector<std::string>;

}  // namespace

TEST_CASE("an allow rule that reaches an always-denied host is a violation", "[policy][egress][security]") {
  const std::string deny = "deny = [\"paste.example.com\", \"*.upload.example.com\"]\n";
  CHECK(egress_violations(deny, "allow = [\"api.example.com\"]\n").empty());
  CHECK(egress_violations(deny, "allow = [\"paste.example.com\"]\n") == Keys{"egress.deny"});
  CHECK(egress_violations(deny, "allow = [\"*.example.com\"]\n") == Keys{"egress.deny", "egress.deny"});
  CHECK(egress_violations(deny, "allow = [\"a.upload.example.com\"]\n") == Keys{"egress.deny"});
  CHECK(egress_violations(deny, "allow = [\"re:^paste\\\\.example\\\\.com$\"]\n") == Keys{"egress.deny", "egress.deny"});
  CHECK(egress_violations(deny, "allow = [\"re:^api\\\\.example\\\\.org$\"]\n") == Keys{"egress.deny"});  // regex vs wildcard: undecidable
  CHECK(egress_violations(deny, "allow = [\"paste.example.com:8443\"]\n").empty());  // the deny means 80 and 443
}

TEST_CASE("copying the policy's deny rule into the Sandboxfile resolves the violation", "[policy][egress]") {
  const std::string deny = "deny = [\"paste.example.com\", \"*.upload.example.com\"]\n";
  CHECK(egress_violations(deny, "allow = [\"*.example.com\"]\ndeny = [\"paste.example.com\", \"*.upload.example.com\"]\n").empty());
  CHECK(egress_violations(deny, "allow = [\"*.example.com\"]\ndeny = [\"*.example.com\"]\n").empty());
  CHECK(egress_violations(deny, "allow = [\"*.example.com\"]\ndeny = [\"paste.example.com\"]\n") == Keys{"egress.deny"});
}

TEST_CASE("every allow rule must lie inside the ceiling", "[policy][egress][security]") {
  const std::string ceiling = "ceiling = [\"*.example.com:443\", \"api.example.net\", \"192.0.2.0/24\"]\n";
  CHECK(egress_violations(ceiling, "allow = [\"a.example.com:443\", \"*.b.example.com:443\", \"api.example.net\", \"192.0.2.7\"]\n").empty());
  CHECK(egress_violations(ceiling, "allow = [\"a.example.com\"]\n") == Keys{"egress.ceiling"});     // port 80 is outside
  CHECK(egress_violations(ceiling, "allow = [\"example.com:443\"]\n") == Keys{"egress.ceiling"});   // the apex is not *.
  CHECK(egress_violations(ceiling, "allow = [\"other.example.org\"]\n") == Keys{"egress.ceiling"});
  CHECK(egress_violations(ceiling, "allow = [\"*.com:443\"]\n") == Keys{"egress.ceiling"});
  CHECK(egress_violations(ceiling, "allow = [\"re:^a\\\\.example\\\\.com$\"]\n") == Keys{"egress.ceiling"});
  CHECK(egress_violations(ceiling, "allow = [\"192.0.0.0/16\"]\n") == Keys{"egress.ceiling"});
  CHECK(egress_violations(ceiling, "mode = \"learn\"\n") == Keys{"egress.ceiling"});
}

TEST_CASE("IP literal, CIDR and private-range rules can each be forbidden", "[policy][egress][security]") {
  CHECK(egress_violations("allow_ip_literals = false\n", "allow = [\"192.0.2.10\"]\n") == Keys{"egress.allow_ip_literals"});
  CHECK(egress_violations("allow_ip_literals = false\n", "allow = [\"192.0.2.0/24\"]\n").empty());
  CHECK(egress_violations("allow_cidrs = false\n", "allow = [\"192.0.2.0/24\"]\n") == Keys{"egress.allow_cidrs"});
  CHECK(egress_violations("allow_cidrs = false\n", "allow = [\"[2001:db8::1]\"]\n").empty());
  const std::string priv = "allow_private_ranges = false\n";
  CHECK(egress_violations(priv, "allow = [\"192.0.2.0/24\", \"2001:db8::/32\"]\n").empty());
  for (const char* r : {"10.1.2.3", "127.0.0.1", "169.254.169.254", "100.64.0.0/10", "172.16.0.0/12", "192.168.1.0/24",
                        "0.0.0.0/0", "[::1]", "fd00::/8", "fe80::/10", "::/0"}) {
    INFO(r);
    CHECK(egress_violations(priv, "allow = [\"" + std::string(r) + "\"]\n") == Keys{"egress.allow_private_ranges"});
  }
  CHECK(egress_violations(priv, "allow = [\"api.example.com\"]\n").empty());
}

TEST_CASE("learn mode can be forbidden, and reaches every denied host", "[policy][egress]") {
  CHECK(egress_violations("allow_learn = false\n", "mode = \"learn\"\n") == Keys{"egress.allow_learn"});
  CHECK(egress_violations("allow_learn = true\n", "mode = \"learn\"\n").empty());
  CHECK(egress_violations("deny = [\"paste.example.com\"]\n", "mode = \"learn\"\n") == Keys{"egress.deny"});
  CHECK(egress_violations("deny = [\"paste.example.com\"]\n", "mode = \"learn\"\ndeny = [\"paste.example.com\"]\n").empty());
}

TEST_CASE("an egress violation names the policy rule and the Sandboxfile rule", "[policy][egress]") {
  const Policy p = policy_ok("version = 1\n[egress]\nceiling = [\"*.example.com:443\"]\n");
  const auto v = check(sandboxfile("version = 1\n[egress]\nallow = [\n  \"ok.example.com:443\",\n  \"bad.example.org\",\n]\n"), {p}).violations;
  REQUIRE(v.size() == 1);
  CHECK(v[0].sandboxfile_at.str() == "Sandboxfile:5:3");
  CHECK(v[0].policy_at.str() == "policy.toml:3:11");
  CHECK(v[0].message == "allow rule \"bad.example.org\" is not inside this policy's egress ceiling");
  CHECK(v[0].item == Item{ItemKind::egress_rule, 1});
}
