#include <catch2/catch.hpp>

#include "policy/glob.h"
#include "policy_env.h"

using namespace sbx::policy;
using namespace sbx::policy::test;
namespace config = sbx::config;

using Keys = std::vector<std::string>;

TEST_CASE("glob patterns: * stops at /, ** does not, ? is one character", "[policy][glob]") {
  CHECK(glob_match("registry.example.com/team/*", "registry.example.com/team/agent:1"));
  CHECK_FALSE(glob_match("registry.example.com/team/*", "registry.example.com/team/sub/agent:1"));
  CHECK(glob_match("registry.example.com/**", "registry.example.com/team/sub/agent:1"));
  CHECK(glob_match("prod-?-key", "prod-a-key"));
  CHECK_FALSE(glob_match("prod-?-key", "prod-ab-key"));
  CHECK(glob_match("*", ""));
  CHECK_FALSE(glob_match("a", "ab"));
  CHECK(glob_match(std::string(200, '*') + "b", std::string(5000, 'a') + "b"));  // no exponential backtracking
}

TEST_CASE("images must match an allowed pattern and carry a digest when one is required", "[policy][images]") {
  const Policy p = policy_ok("version = 1\n[images]\nallow = [\"builtin:*\", \"registry.example.com/acme/**\"]\nrequire_digest = true\n");
  const std::string pin = "sha256:" + std::string(64, 'a');
  CHECK(violated(sandboxfile("version = 1\n"), {p}).empty());
  CHECK(violated(sandboxfile("version = 1\n[image]\nref = \"registry.example.com/acme/agent:1\"\ndigest = \"" + pin + "\"\n"), {p}).empty());
  CHECK(violated(sandboxfile("version = 1\n[image]\nref = \"registry.example.com/acme/agent:1\"\n"), {p}) == Keys{"images.require_digest"});
  CHECK(violated(sandboxfile("version = 1\n[image]\nref = \"debian:12\"\ndigest = \"" + pin + "\"\n"), {p}) == Keys{"images.allow"});
  CHECK(violated(sandboxfile("version = 1\n[image]\nref = \"./rootfs\"\n"), {p}) == Keys{"images.allow", "images.require_digest"});
  const auto v = check(sandboxfile("version = 1\n[image]\nref = \"debian:12\"\n"), {p}).violations;
  REQUIRE(v.size() == 2);
  CHECK(v[0].message == "image docker.io/library/debian:12 is not one this policy allows");
  CHECK(v[0].sandboxfile_at.str() == "Sandboxfile:2:1");
}

TEST_CASE("secret names can be denied, bound only where granted, and kept out of env", "[policy][secrets][security]") {
  const Policy p = policy_ok(R"(version = 1
[secrets]
deny = ["deploy-*"]
allow_env = false
[[secrets.allow]]
names = ["gh-*"]
hosts = ["api.example.com"]
[[secrets.allow]]
names = ["npm-token"]
inject = ["env"]
)");
  const std::string egress = "version = 1\n[egress]\nallow = [\"api.example.com\", \"other.example.com\"]\n";
  auto secret = [&](std::string body) { return violated(sandboxfile(egress + "[[secret]]\n" + body), {p}); };
  CHECK(secret("name = \"gh-token\"\nhosts = [\"api.example.com\"]\nheader = \"Authorization\"\n").empty());
  CHECK(secret("name = \"gh-token\"\nhosts = [\"other.example.com\"]\nheader = \"Authorization\"\n") == Keys{"secrets.allow"});
  CHECK(secret("name = \"deploy-key\"\nhosts = [\"api.example.com\"]\nheader = \"Authorization\"\n") == Keys{"secrets.deny", "secrets.allow"});
  CHECK(secret("name = \"npm-token\"\ninject = \"env\"\nenv = \"NPM_TOKEN\"\n") == Keys{"secrets.allow_env"});
  CHECK(secret("name = \"gh-token\"\ninject = \"env\"\nenv = \"GH_TOKEN\"\n") == Keys{"secrets.allow_env", "secrets.allow"});
  const Policy env_ok = policy_ok("version = 1\n[[secrets.allow]]\nnames = [\"npm-token\"]\ninject = [\"env\"]\n");
  CHECK(violated(sandboxfile(egress + "[[secret]]\nname = \"npm-token\"\ninject = \"env\"\nenv = \"NPM_TOKEN\"\n"), {env_ok}).empty());
  const auto r = check(sandboxfile(egress + "[[secret]]\nname = \"gh-token\"\nhosts = [\"api.example.com\"]\nheader = \"Authorization\"\n"), {p});
  REQUIRE(r.constraints.size() == 1);
  CHECK(r.constraints[0].what == "granted for api.example.com");
  CHECK(r.constraints[0].policy_at.str() == "policy.toml:5:1");
}

TEST_CASE("resources above a policy's limits are violations, defaults included", "[policy][resources]") {
  const Policy p = policy_ok("version = 1\n[resources]\nmax_cpus = 2\nmax_memory = \"256MiB\"\nmax_disk = \"4GiB\"\n");
  CHECK(violated(sandboxfile("version = 1\n[resources]\ncpus = 2\nmemory = \"256MiB\"\ndisk = \"4GiB\"\n"), {p}).empty());
  const auto v = check(sandboxfile("version = 1\n[resources]\ncpus = 3\ndisk = \"5GiB\"\n"), {p}).violations;
  REQUIRE(v.size() == 3);
  CHECK(v[0].message == "cpus 3 is more than this policy allows (2)");
  CHECK(v[1].message == "memory 512MiB is more than this policy allows (256MiB)");
  CHECK(v[2].fix == "write disk = \"4GiB\" or less in [resources]");
  CHECK(v[0].sandboxfile_at.str() == "Sandboxfile:2:1");
}

TEST_CASE("agents must be an allowed preset", "[policy][agents]") {
  const Policy p = policy_ok("version = 1\n[agents]\nallow = [\"claude-code\", \"custom\"]\n");
  CHECK(violated(sandboxfile("version = 1\n[agent]\npreset = \"claude-code\"\n"), {p}).empty());
  CHECK(violated(sandboxfile("version = 1\n[agent]\ncommand = [\"/bin/true\"]\n"), {p}).empty());
  CHECK(violated(sandboxfile("version = 1\n[agent]\npreset = \"codex\"\n"), {p}) == Keys{"agents.allow"});
  CHECK(violated(sandboxfile("version = 1\n"), {p}) == Keys{"agents.allow"});  // the default preset is shell
}

TEST_CASE("a policy with docker disallowed refuses [docker] enabled, and only that", "[policy][docker]") {
  const Policy no = policy_ok("version = 1\n[docker]\nallow = false\n");
  const Policy yes = policy_ok("version = 1\n[docker]\nallow = true\n");
  const std::string with_docker = "version = 1\n[docker]\nenabled = true\n";
  CHECK(violated(sandboxfile("version = 1\n"), {no}).empty());
  CHECK(violated(sandboxfile("version = 1\n[docker]\nenabled = false\n"), {no}).empty());
  CHECK(violated(sandboxfile(with_docker), {yes}).empty());
  CHECK(violated(sandboxfile(with_docker), {no}) == Keys{"docker.allow"});
  const auto v = check(sandboxfile(with_docker), {no}).violations;
  REQUIRE(v.size() == 1);
  CHECK(v[0].sandboxfile_at.str() == "Sandboxfile:2:1");
  CHECK(v[0].fix == "remove [docker] (or write enabled = false)");
}

TEST_CASE("several policies: all apply, and only an enforcing one blocks", "[policy][merge]") {
  Policy warn = policy_ok("version = 1\nenforcement = \"warn\"\n[resources]\nmax_cpus = 2\n", "warn.toml");
  Policy enforce = policy_ok("version = 1\n[resources]\nmax_cpus = 4\n", "enforce.toml");
  const auto three = sandboxfile("version = 1\n[resources]\ncpus = 3\n");
  const Report r3 = check(three, {warn, enforce});
  REQUIRE(r3.violations.size() == 1);
  CHECK(r3.violations[0].enforcement == Enforcement::warn);
  CHECK_FALSE(r3.blocked());
  const Report r5 = check(sandboxfile("version = 1\n[resources]\ncpus = 5\n"), {warn, enforce});
  CHECK(r5.violations.size() == 2);
  CHECK(r5.blocked());
  // Two ceilings intersect: a host must be inside both.
  Policy a = policy_ok("version = 1\n[egress]\nceiling = [\"*.example.com\"]\n", "a.toml");
  Policy b = policy_ok("version = 1\n[egress]\nceiling = [\"*.b.example.com\", \"api.example.org\"]\n", "b.toml");
  CHECK(violated(sandboxfile("version = 1\n[egress]\nallow = [\"x.b.example.com\"]\n"), {a, b}).empty());
  CHECK(violated(sandboxfile("version = 1\n[egress]\nallow = [\"x.c.example.com\"]\n"), {a, b}) == Keys{"egress.ceiling"});
  CHECK(violated(sandboxfile("version = 1\n[egress]\nallow = [\"api.example.org\"]\n"), {a, b}) == Keys{"egress.ceiling"});
}
