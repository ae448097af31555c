#include <catch2/catch.hpp>

#include "policy/discovery.h"
#include "policy_env.h"

using namespace sbx::policy;
using namespace sbx::policy::test;
namespace config = sbx::config;

TEST_CASE("a policy with every table loads with the location of each rule", "[policy][loader]") {
  const Policy p = policy_ok(R"(version = 1
name = "acme"
enforcement = "warn"
[images]
allow = ["registry.example.com/**"]
require_digest = true
[mounts]
deny = ["~/.ssh", "@sbx-data"]
deny_itself = ["~"]
read_only = ["/srv/shared"]
max = 3
allow_rw = false
[egress]
deny = ["paste.example.com"]
ceiling = ["*.example.com:443", { host = "api.example.net", ports = [8443] }]
allow_ip_literals = false
allow_learn = false
[secrets]
deny = ["deploy-*"]
allow_env = false
[[secrets.allow]]
names = ["gh-*"]
hosts = ["api.example.com"]
inject = ["header", "env"]
[resources]
max_cpus = 4
max_memory = "8GiB"
max_disk = "20GiB"
[agents]
allow = ["shell", "custom"]
[docker]
allow = false
)");
  CHECK(p.name == "acme");
  CHECK(p.enforcement == Enforcement::warn);
  REQUIRE(p.images.allow);
  CHECK(p.images.allow->value.at(0).pattern == "registry.example.com/**");
  CHECK(p.images.allow->value.at(0).where.str() == "policy.toml:5:10");
  CHECK(p.images.require_digest->value);
  REQUIRE(p.mounts.deny.size() == 2);
  CHECK(p.mounts.deny[1].written == "@sbx-data");
  CHECK(p.mounts.deny[1].where.str() == "policy.toml:8:19");
  CHECK(p.mounts.max->value == 3);
  CHECK_FALSE(p.mounts.allow_rw->value);
  CHECK(p.egress.deny.at(0).location.str() == "policy.toml:14:9");
  REQUIRE(p.egress.ceiling);
  CHECK(p.egress.ceiling->value.at(1).ports == std::vector<std::uint16_t>{8443});
  CHECK(p.egress.ceiling->value.at(0).ports == std::vector<std::uint16_t>{443});
  CHECK_FALSE(p.egress.allow_ip_literals->value);
  CHECK_FALSE(p.egress.allow_cidrs);
  REQUIRE(p.secrets.allow);
  CHECK(p.secrets.allow->value.at(0).env);
  CHECK(p.secrets.allow->value.at(0).header);
  CHECK(p.resources.max_memory->value == 8ull << 30);
  CHECK(p.resources.max_cpus->where.line == 26);
  CHECK(p.agents.allow->value == std::vector<std::string>{"shell", "custom"});
  CHECK_FALSE(p.docker.allow->value);
}

TEST_CASE("a policy's name defaults to its file name", "[policy][loader]") {
  CHECK(policy_ok("version = 1\n", "/etc/sbx/policies.d/10-Acme_Org.toml").name == "10-acme-org");
}

TEST_CASE("unknown keys and tables are errors with a suggestion at file:line:col", "[policy][loader]") {
  const auto e = policy_err("version = 1\n[mounts]\ndeny_self = [\"~\"]\n[egres]\n");
  REQUIRE(e.details.size() == 2);
  CHECK(e.details[0].location.str() == "policy.toml:3:1");
  CHECK(e.details[0].message == "unknown key 'deny_self' in [mounts] (did you mean 'deny_itself'?)");
  CHECK(e.details[1].message == "unknown table 'egres' (did you mean 'egress'?)");
  CHECK(e.message == "policy.toml: 2 errors");
}

TEST_CASE("every problem of a policy is reported in one run", "[policy][loader]") {
  const auto e = policy_err(R"(version = 1
enforcement = "strict"
[mounts]
deny = ["relative", "~bob/x"]
max = 100
[resources]
max_memory = 512
[agents]
allow = ["claude"]
)");
  REQUIRE(e.details.size() == 6);
  CHECK(e.details[0].message == "invalid enforcement 'strict'");
  CHECK(e.details[1].message == "invalid path \"relative\": a policy path must be absolute");
  CHECK(e.details[2].message == "invalid path \"~bob/x\": '~user' paths are not supported");
  CHECK(e.details[3].message == "max 100 is out of range");
  CHECK(e.details[4].location.line == 7);
  CHECK(e.details.back().message == "unknown agent preset 'claude' (did you mean 'claude-code'?)");
}

TEST_CASE("a policy without a version, or a newer one, is refused", "[policy][loader]") {
  CHECK(policy_err("name = \"x\"\n").details.at(0).message == "missing 'version'");
  CHECK(policy_err("version = 2\n").details.at(0).message.starts_with("policy version 2 is newer than this sbx reads"));
}

TEST_CASE("a header grant must name its hosts", "[policy][loader]") {
  const auto e = policy_err("version = 1\n[[secrets.allow]]\nnames = [\"a\"]\n");
  CHECK(e.details.at(0).message == "[[secrets.allow]] grants header injection but lists no 'hosts'");
  CHECK(policy_ok("version = 1\n[[secrets.allow]]\nnames = [\"a\"]\ninject = [\"env\"]\n").secrets.allow->value.at(0).env);
}

TEST_CASE("the built-in baseline loads and denies the credential directories", "[policy][loader]") {
  auto b = baseline_policy();
  REQUIRE(b.has_value());
  CHECK(b->origin == Origin::baseline);
  std::vector<std::string> deny;
  for (const auto& e : b->mounts.deny) deny.push_back(e.written);
  for (const char* must : {"~/.ssh", "~/.aws", "~/.config/gcloud", "~/.kube", "~/.docker", "~/.gnupg", "@sbx-data", "@sbx-state"})
    CHECK(std::find(deny.begin(), deny.end(), must) != deny.end());
  REQUIRE(b->mounts.deny_itself.size() == 2);
  CHECK(b->mounts.deny_itself[0].written == "~");
  CHECK(b->mounts.deny_itself[1].written == "/");
}

TEST_CASE("every valid spec policy and every policies/ file loads, every invalid one fails", "[policy][loader]") {
  const fs::path spec = SBX_SPEC_DIR;
  int n = 0;
  for (const auto& dir : {spec / "policies/valid", fs::path(SBX_REPO_DIR) / "policies", fs::path(SBX_REPO_DIR) / "policies/examples"})
    for (const auto& f : fs::directory_iterator(dir))
      if (f.path().extension() == ".toml") {
        INFO(f.path());
        auto p = load_policy_file(f.path(), Origin::env);
        INFO((p ? "" : p.error().render()));
        CHECK(p.has_value());
        ++n;
      }
  CHECK(n >= 6);
  for (const auto& c : fs::directory_iterator(spec / "policies/invalid")) {
    INFO(c.path());
    CHECK_FALSE(load_policy_file(c.path() / "policy.toml", Origin::env).has_value());
  }
}
