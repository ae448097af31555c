#include <catch2/catch.hpp>

#include "policy/discovery.h"
#include "policy_env.h"

using namespace sbx::policy;
using namespace sbx::policy::test;
namespace config = sbx::config;

namespace {

std::string mount(const fs::path& source, std::string_view mode = "ro", std::string_view target = "/workspace") {
  return "[[mount]]\nsource = \"" + source.string() + "\"\ntarget = \"" + std::string(target) + "\"\nmode = \"" + std::string(mode) + "\"\n";
}

config::Sandboxfile file_with(const PolicyEnv& w, const std::string& mounts) {
  return sandboxfile("version = 1\n" + mounts, w.project);
}

std::vector<Policy> baseline() { return {*baseline_policy()}; }

}  // namespace

TEST_CASE("the baseline lets a project inside the home directory be mounted", "[policy][mounts]") {
  PolicyEnv w;
  fs::create_directories(w.project / "src");
  fs::create_directories(w.root / "elsewhere");
  const auto f = file_with(w, mount(".", "rw") + mount("./src", "ro", "/src") + mount(w.root / "elsewhere", "ro", "/elsewhere"));
  CHECK(violated(f, baseline()).empty());
}

TEST_CASE("the baseline refuses the credential directories, inside them, and what holds them", "[policy][mounts][security]") {
  PolicyEnv w;
  fs::create_directories(w.home / ".ssh/keys");
  fs::create_directories(w.home / ".config/gcloud");
  for (const fs::path& src : {w.home / ".ssh", w.home / ".ssh/keys", w.home / ".aws", w.home / ".config/gcloud",
                              w.home / ".kube", w.home / ".docker", w.home / ".gnupg", w.home / ".config"}) {
    INFO(src);
    const auto v = check(file_with(w, mount(src)), baseline()).violations;
    REQUIRE(v.size() >= 1);
    CHECK(v[0].key == "mounts.deny");
    CHECK(v[0].policy == "baseline");
    CHECK(v[0].enforcement == Enforcement::enforce);
    CHECK(v[0].sandboxfile_at.str() == "Sandboxfile:2:1");
    CHECK(v[0].policy_at.file == "builtin:policies/baseline.toml");
  }
}

TEST_CASE("the baseline refuses the home directory itself, its parent and /", "[policy][mounts][security]") {
  PolicyEnv w;
  CHECK(violated(file_with(w, mount("~")), baseline()) == std::vector<std::string>{"mounts.deny", "mounts.deny", "mounts.deny",
                                                                                    "mounts.deny", "mounts.deny", "mounts.deny",
                                                                                    "mounts.deny", "mounts.deny", "mounts.deny",
                                                                                    "mounts.deny_itself"});
  const auto parent = violated(file_with(w, mount(w.home.parent_path())), baseline());
  CHECK(std::count(parent.begin(), parent.end(), "mounts.deny_itself") == 1);
  const auto root = violated(file_with(w, mount("/")), baseline());
  CHECK(std::count(root.begin(), root.end(), "mounts.deny_itself") == 2);
}

TEST_CASE("the baseline refuses sbx's own state, data and config directories", "[policy][mounts][security]") {
  PolicyEnv w;
  for (const char* d : {"SBX_STATE_DIR", "SBX_DATA_DIR", "SBX_CONFIG_DIR"}) {
    INFO(d);
    const fs::path dir = std::getenv(d);
    fs::create_directories(dir);
    const auto v = check(file_with(w, mount(dir)), baseline()).violations;
    REQUIRE(v.size() == 1);
    CHECK(v[0].key == "mounts.deny");
  }
}

TEST_CASE("a symlink in the project that points at ~/.ssh is caught", "[policy][mounts][security]") {
  PolicyEnv w;
  fs::create_directories(w.home / ".ssh");
  fs::create_symlink(w.home / ".ssh", w.project / "keys");
  const auto v = check(file_with(w, mount("./keys")), baseline()).violations;
  REQUIRE(v.size() == 1);
  CHECK(v[0].key == "mounts.deny");
  CHECK(v[0].message == "mount source " + (w.project / "keys").string() + " (resolves to " + (w.home / ".ssh").string() +
                            ") is ~/.ssh (" + (w.home / ".ssh").string() + "), which no sandbox may mount");
}

TEST_CASE("a relative symlink to the home directory is caught as the home directory", "[policy][mounts][security]") {
  PolicyEnv w;
  fs::create_symlink("..", w.project / "up");
  const auto keys = violated(file_with(w, mount("./up")), baseline());
  CHECK(std::count(keys.begin(), keys.end(), "mounts.deny_itself") == 1);
}

TEST_CASE("'..' in a source is resolved before it is compared", "[policy][mounts][security]") {
  PolicyEnv w;
  fs::create_directories(w.home / ".aws");
  const auto v = check(file_with(w, mount("./sub/../../.aws")), baseline()).violations;
  REQUIRE(v.size() == 1);
  CHECK(v[0].message.find("is ~/.aws") != std::string::npos);
}

TEST_CASE("a home directory reached through a symlink still matches the policy's ~ paths", "[policy][mounts][security]") {
  PolicyEnv w;
  fs::create_directories(w.home / ".gnupg");
  const fs::path link = w.root / "home-link";
  fs::create_symlink(w.home, link);
  w.env.set("HOME", link.string());  // the policy's ~ goes through the link, the source does not
  CHECK(violated(file_with(w, mount(w.home / ".gnupg")), baseline()) == std::vector<std::string>{"mounts.deny"});
}

TEST_CASE("read_only paths may be mounted read-only only", "[policy][mounts]") {
  PolicyEnv w;
  fs::create_directories(w.root / "shared/lib");
  const Policy p = policy_ok("version = 1\n[mounts]\nread_only = [\"" + (w.root / "shared").string() + "\"]\n");
  CHECK(violated(file_with(w, mount(w.root / "shared/lib", "ro")), {p}).empty());
  CHECK(violated(file_with(w, mount(w.root / "shared/lib", "rw")), {p}) == std::vector<std::string>{"mounts.read_only"});
  CHECK(violated(file_with(w, mount(w.root, "rw")), {p}) == std::vector<std::string>{"mounts.read_only"});  // holds it
  CHECK(violated(file_with(w, mount(w.project, "rw")), {p}).empty());
  const auto r = check(file_with(w, mount(w.root / "shared", "ro")), {p});
  REQUIRE(r.constraints.size() == 1);
  CHECK(r.constraints[0].what == "read-only required (mounts.read_only \"" + (w.root / "shared").string() + "\")");
}

TEST_CASE("max and allow_rw limit the mounts", "[policy][mounts]") {
  PolicyEnv w;
  fs::create_directories(w.project / "a");
  const Policy p = policy_ok("version = 1\n[mounts]\nmax = 1\nallow_rw = false\n");
  const auto f = file_with(w, mount(".", "ro") + mount("./a", "rw", "/a"));
  const auto v = check(f, {p}).violations;
  REQUIRE(v.size() == 2);
  CHECK(v[0].key == "mounts.allow_rw");
  CHECK(v[1].key == "mounts.max");
  CHECK(v[1].message == "the Sandboxfile has 2 mounts; this policy allows at most 1");
  CHECK(v[1].sandboxfile_at.line == 6);
  CHECK(v[1].policy_at.str() == "policy.toml:3:7");
  CHECK(violated(file_with(w, mount(".", "ro")), {p}).empty());
}

TEST_CASE("deny_itself allows what is inside the path", "[policy][mounts]") {
  PolicyEnv w;
  fs::create_directories(w.root / "srv/runner/work");
  const Policy p = policy_ok("version = 1\n[mounts]\ndeny_itself = [\"" + (w.root / "srv/runner").string() + "\"]\n");
  CHECK(violated(file_with(w, mount(w.root / "srv/runner/work")), {p}).empty());
  CHECK(violated(file_with(w, mount(w.root / "srv/runner")), {p}) == std::vector<std::string>{"mounts.deny_itself"});
  CHECK(violated(file_with(w, mount(w.root / "srv")), {p}) == std::vector<std::string>{"mounts.deny_itself"});
}

TEST_CASE("mounts.protect requires each read-write mount to keep the path read-only", "[policy][mounts][security]") {
  PolicyEnv w;
  fs::create_directories(w.project);
  const Policy p = policy_ok("version = 1\n[mounts]\nprotect = [\"scripts/deploy.sh\", \".git/hooks\"]\n");
  // .git/hooks is protected by default; scripts/deploy.sh only once the Sandboxfile lists it.
  const auto v = check(file_with(w, mount(".", "rw")), {p}).violations;
  REQUIRE(v.size() == 1);
  CHECK(v[0].key == "mounts.protect");
  CHECK(v[0].fix.find("scripts/deploy.sh") != std::string::npos);
  CHECK(violated(sandboxfile("version = 1\nprotect = [\"scripts/deploy.sh\"]\n" + mount(".", "rw"), w.project), {p}).empty());
  CHECK(violated(file_with(w, mount(".", "ro")), {p}).empty());  // a read-only mount protects everything
  CHECK(policy_err("version = 1\n[mounts]\nprotect = [\"../x\"]\n").render().find("invalid protected path") != std::string::npos);
}
