// The egress part of a launch: [egress] has its own digest, so a rules-only change is planned as
// a hot update and anything else still reboots.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "reconcile/launch_builder.h"
#include "reconcile/plan.h"

using namespace sbx;

namespace {

config::Sandboxfile with_rules(std::vector<std::string> hosts) {
  config::Sandboxfile f;
  f.name = "demo";
  f.file = "/src/demo/Sandboxfile";
  f.project_dir = "/src/demo";
  f.agent.command = {"true"};
  for (auto& h : hosts) f.egress.allow.push_back({config::HostPatternKind::exact, h, {443}, h, {}});
  return f;
}

reconcile::Artifacts artifacts() { return {"/k/vmlinuz", "/c/initramfs/abc.cpio", "/c/images/default-1.ext4", "6.1.0"}; }

}  // namespace

TEST_CASE("changing only [egress] keeps the machine digest and changes the egress digest", "[reconcile][egress]") {
  const supervisor::SandboxPaths paths{"/state/sandboxes/demo"};
  const auto a = reconcile::make_launch(with_rules({"api.github.com"}), artifacts(), paths);
  const auto b = reconcile::make_launch(with_rules({"api.github.com", "pypi.org"}), artifacts(), paths);
  CHECK(a.digest == b.digest);
  CHECK(a.egress.digest != b.egress.digest);
  CHECK(a.egress.enabled);
  CHECK(a.egress.snapshot == "/state/sandboxes/demo/Sandboxfile.applied");
  CHECK(a.egress.sandboxfile == "/src/demo/Sandboxfile");
  CHECK_FALSE(a.egress.trust_ca);

  auto more_cpus = with_rules({"api.github.com"});
  more_cpus.resources.cpus = 4;
  CHECK(reconcile::make_launch(more_cpus, artifacts(), paths).digest != a.digest);

  auto with_secret = with_rules({"api.github.com"});
  with_secret.secrets.push_back({"GH", config::InjectKind::header, {"api.github.com"}, "Authorization", "Bearer {}", "", {}});
  const auto c = reconcile::make_launch(with_secret, artifacts(), paths);
  CHECK(c.egress.trust_ca);
  CHECK(c.digest != a.digest);  // the guest must trust the CA: a new CONFIG, a reboot
}

TEST_CASE("a ready sandbox whose [egress] alone differs gets a hot update, nothing else does", "[reconcile][egress]") {
  using reconcile::Action;
  using supervisor::Phase;
  const reconcile::Recorded ready{.exists = true, .running = true, .phase = Phase::ready, .digest = "sha256:m",
                                  .error = "", .egress_digest = "sha256:e1"};
  CHECK(reconcile::plan("sha256:m", "sha256:e2", ready).action == Action::hot_update);
  CHECK(std::string(reconcile::action_name(Action::hot_update)) == "hot-update");
  CHECK(reconcile::plan("sha256:m", "sha256:e1", ready).action == Action::nothing);
  CHECK(reconcile::plan("sha256:other", "sha256:e2", ready).action == Action::recreate);
  auto starting = ready;
  starting.phase = Phase::starting;
  CHECK(reconcile::plan("sha256:m", "sha256:e2", starting).action != Action::hot_update);
  auto gone = ready;
  gone.running = false;
  CHECK(reconcile::plan("sha256:m", "sha256:e2", gone).action == Action::create);
}

TEST_CASE("host pins go into the egress section and its digest, never the machine's", "[reconcile][egress][pins]") {
  const supervisor::SandboxPaths paths{"/state/sandboxes/demo"};
  const auto file = with_rules({"api.provider.test"});
  const auto none = reconcile::make_launch(file, artifacts(), paths);
  const auto pinned = reconcile::make_launch(file, artifacts(), paths, *proxy::parse_host_pins("api.provider.test=127.0.0.1"));
  const auto moved = reconcile::make_launch(file, artifacts(), paths, *proxy::parse_host_pins("api.provider.test=127.0.0.2"));
  // A pin change is a hot update (same machine, new egress digest), not a reboot.
  CHECK(pinned.digest == none.digest);
  CHECK(moved.digest == none.digest);
  CHECK(pinned.egress.digest != none.egress.digest);
  CHECK(moved.egress.digest != pinned.egress.digest);
  REQUIRE(pinned.egress.pins.size() == 1);
  CHECK(pinned.egress.pins[0].addresses[0].str() == "127.0.0.1");
  // Without pins the egress digest is the one sbx computed before pins existed.
  CHECK(none.egress.pins.empty());
  CHECK(reconcile::make_launch(file, artifacts(), paths, {}).egress.digest == none.egress.digest);
  // launch.json carries them, so a restarted egress proxy (and sbx status) reads the same pins.
  const auto back = supervisor::launch_from_json(supervisor::launch_to_json(pinned), "launch.json");
  REQUIRE(back);
  CHECK(back->egress.pins == pinned.egress.pins);
  CHECK(back->egress.digest == pinned.egress.digest);
  CHECK(supervisor::launch_to_json(none).find("resolve") == std::string::npos);
}

TEST_CASE("a launch.json whose pins do not parse is refused", "[reconcile][egress][pins][security]") {
  const auto l = reconcile::make_launch(with_rules({"a.test"}), artifacts(), {"/s"}, *proxy::parse_host_pins("a.test=127.0.0.1"));
  std::string text = supervisor::launch_to_json(l);
  const auto at = text.find("a.test=127.0.0.1");
  REQUIRE(at != std::string::npos);
  text.replace(at, 16, "a.test=127.1");
  const auto r = supervisor::launch_from_json(text, "launch.json");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("launch.json: egress.resolve") != std::string::npos);
}

TEST_CASE("where sbx up found the policies goes into the egress section and its digest, never the machine's",
          "[reconcile][egress][policy]") {
  const supervisor::SandboxPaths paths{"/state/sandboxes/demo"};
  const auto file = with_rules({"api.provider.test"});
  const char* old = std::getenv("SBX_POLICY_PATH");
  const std::string saved = old ? old : "";
  ::setenv("SBX_POLICY_PATH", "/org/a.toml:/org/more.d", 1);
  const auto one = reconcile::make_launch(file, artifacts(), paths);
  ::setenv("SBX_POLICY_PATH", "/org/b.toml", 1);
  const auto other = reconcile::make_launch(file, artifacts(), paths);
  old ? ::setenv("SBX_POLICY_PATH", saved.c_str(), 1) : ::unsetenv("SBX_POLICY_PATH");
  // Other policies are a hot update of the proxy (same machine), not a reboot.
  CHECK(one.digest == other.digest);
  CHECK(one.egress.digest != other.egress.digest);
  REQUIRE(one.egress.policies);
  CHECK(one.egress.policies->path == std::vector<std::string>{"/org/a.toml", "/org/more.d"});
  // launch.json carries them, so a restarted egress proxy looks in the same places.
  const auto back = supervisor::launch_from_json(supervisor::launch_to_json(one), "launch.json");
  REQUIRE(back);
  REQUIRE(back->egress.policies);
  CHECK(*back->egress.policies == *one.egress.policies);
}
