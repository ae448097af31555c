// The policy gate of the real sbx binary: `sbx up` and `sbx validate` stop on an enforced
// violation (before anything is built or booted), a warn policy only prints, and a system
// policy that is unsigned or altered while keys are trusted makes `sbx up` refuse.
#include <catch2/catch.hpp>

#include "policy_env.h"
#include "support/subprocess.h"

using namespace sbx::policy::test;
using namespace std::chrono_literals;

namespace {

sbx::test::Ran sbx_run(const PolicyEnv& w, std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  sbx::test::Spawn s;
  s.argv = {SBX_BIN};
  s.argv.insert(s.argv.end(), args.begin(), args.end());
  s.env = std::move(env);
  s.cwd = w.project.string();
  return sbx::test::run(s, {}, 60s);
}

void write_project(const PolicyEnv& w, std::string_view mounts) {
  write(w.project / "Sandboxfile", "version = 1\nname = \"policy-cli\"\n" + std::string(mounts));
}

}  // namespace

TEST_CASE("sbx up refuses a Sandboxfile mounting ~/.ssh through a link, before booting", "[policy][cli][security]") {
  PolicyEnv w;  // the environment is inherited by sbx: HOME and every sbx directory are private
  fs::create_directories(w.home / ".ssh");
  fs::create_symlink(w.home / ".ssh", w.root / "outside-link");  // outside the project: check_mount_sources follows it
  write_project(w, "[[mount]]\nsource = \"" + (w.root / "outside-link").string() + "\"\ntarget = \"/keys\"\n");
  const auto up = sbx_run(w, {"up", "--detach"});
  CHECK(up.exit_code == 1);
  // sbx up checks the source its mount check resolved: the directory the link names.
  CHECK(up.err.find("Sandboxfile:3:1: error: mount source " + (w.home / ".ssh").string() + " is ~/.ssh") != std::string::npos);
  CHECK(up.err.find("policy: builtin:policies/baseline.toml:") != std::string::npos);
  CHECK(up.err.find("breaks 1 enforced policy rule") != std::string::npos);
  CHECK(up.err.find("booting") == std::string::npos);
  CHECK_FALSE(fs::exists(w.home / ".local/state/sbx/sandboxes/policy-cli/launch.json"));
  const auto validate = sbx_run(w, {"validate", "--json"});
  CHECK(validate.exit_code == 1);
  CHECK(validate.out.find("\"ok\":false") != std::string::npos);
  CHECK(validate.out.find("mounts.deny") != std::string::npos);
}

TEST_CASE("a warn policy's violation is printed and sbx validate passes", "[policy][cli]") {
  PolicyEnv w;
  write(w.root / "warn.toml", "version = 1\nenforcement = \"warn\"\n[resources]\nmax_cpus = 1\n");
  write_project(w, "[resources]\ncpus = 2\n");
  const auto r = sbx_run(w, {"validate"}, {{"SBX_POLICY_PATH", (w.root / "warn.toml").string()}});
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("Sandboxfile:3:1: warning: cpus 2 is more than this policy allows (1)") != std::string::npos);
  const auto check = sbx_run(w, {"policy", "check", "--json"}, {{"SBX_POLICY_PATH", (w.root / "warn.toml").string()}});
  CHECK(check.exit_code == 0);
  CHECK(check.out.find("\"enforcement\":\"warn\"") != std::string::npos);
}

TEST_CASE("keygen, sign and verify through the CLI, and sbx up fails closed on an altered system policy", "[policy][cli][trust][security]") {
  PolicyEnv w;
  write_project(w, "");
  REQUIRE(sbx_run(w, {"policy", "keygen", (w.root / "org").string()}).exit_code == 0);
  CHECK((fs::status(w.root / "org.key").permissions() & fs::perms::group_all) == fs::perms::none);
  CHECK(sbx_run(w, {"policy", "keygen", (w.root / "org").string()}).exit_code == 1);  // never overwrites
  const fs::path policy = w.system / "policies.d/org.toml";
  write(policy, "version = 1\n[resources]\nmax_cpus = 4\n");
  REQUIRE(sbx_run(w, {"policy", "sign", policy.string(), "--key", (w.root / "org.key").string()}).exit_code == 0);
  CHECK(sbx_run(w, {"policy", "verify", policy.string(), "--key", (w.root / "org.pub").string()}).exit_code == 0);
  write(w.system / "trusted-keys.d/org.pub", *sbx::policy::read_policy_text(w.root / "org.pub"));
  const auto ls = sbx_run(w, {"policy", "ls"});
  CHECK(ls.exit_code == 0);
  CHECK(ls.out.find("signed by ") != std::string::npos);
  write(policy, "version = 1\n[resources]\nmax_cpus = 64\n");  // loosened after signing
  CHECK(sbx_run(w, {"policy", "verify", policy.string()}).exit_code == 1);
  const auto up = sbx_run(w, {"up", "--detach"});
  CHECK(up.exit_code == 1);
  CHECK(up.err.find("system policy " + policy.string() + " is not trusted: its signature does not match its contents") != std::string::npos);
}

TEST_CASE("sbx render kubernetes fails on an enforced violation as sbx up does, and renders under a warn one",
          "[policy][cli][render]") {
  PolicyEnv w;
  write(w.root / "strict.toml", "version = 1\n[resources]\nmax_cpus = 1\n");
  write(w.root / "warn.toml", "version = 1\nenforcement = \"warn\"\n[resources]\nmax_cpus = 1\n");
  write_project(w, "[image]\nref = \"registry.example.com/team/agent:1\"\n[resources]\ncpus = 2\n");
  const auto strict = sbx_run(w, {"render", "kubernetes"}, {{"SBX_POLICY_PATH", (w.root / "strict.toml").string()}});
  CHECK(strict.exit_code == 1);
  CHECK(strict.err.find("cpus 2 is more than this policy allows (1)") != std::string::npos);
  CHECK(strict.err.find("strict.toml:") != std::string::npos);
  CHECK(strict.out.find("kind:") == std::string::npos);  // nothing rendered
  const auto warned = sbx_run(w, {"render", "kubernetes"}, {{"SBX_POLICY_PATH", (w.root / "warn.toml").string()}});
  CHECK(warned.exit_code == 0);
  CHECK(warned.err.find("warning: cpus 2 is more than this policy allows (1)") != std::string::npos);
  CHECK(warned.out.find("kind: \"Sandbox\"") != std::string::npos);
}
