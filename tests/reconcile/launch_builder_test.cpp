#include <catch2/catch.hpp>

#include "reconcile/launch_builder.h"

#include "config/defaults.h"

using namespace sbx;

namespace {

config::Sandboxfile sample() {
  config::Sandboxfile f;
  f.name = "demo";
  f.agent.command = {"/bin/sh", "-c", "echo hi"};
  f.agent.env = {{"FOO", "bar"}};
  f.resources.cpus = 2;
  f.resources.memory_bytes = 300ull << 20;
  f.mounts.push_back({"/src/demo", "/workspace", false, {}});
  f.mounts.push_back({"/src/cache", "/cache", true, {}});
  return f;
}

reconcile::Artifacts artifacts() { return {"/k/vmlinuz", "/c/initramfs/abc.cpio", "/c/images/default-1.ext4", "6.1.0"}; }

}  // namespace

TEST_CASE("the launch turns a Sandboxfile into a machine with its root disk, channel and shares", "[reconcile]") {
  const supervisor::SandboxPaths paths{"/state/sandboxes/demo"};
  const auto l = reconcile::make_launch(sample(), artifacts(), paths);
  CHECK(l.name == "demo");
  CHECK(l.machine.cpus == 2);
  CHECK(l.machine.memory_bytes == (300ull << 20));
  REQUIRE(l.machine.disks.size() == 2);
  CHECK(l.machine.disks[0].path == "/c/images/default-1.ext4");
  CHECK(l.machine.disks[0].read_only);
  // The sandbox's own disk, writable, found by the guest through its serial on the command line.
  CHECK(l.machine.disks[1].path == paths.disk());
  CHECK_FALSE(l.machine.disks[1].read_only);
  CHECK(l.machine.disks[1].serial == "sbx-disk");
  CHECK(l.machine.cmdline.find("sbx.disk=sbx-disk") != std::string::npos);
  REQUIRE(l.machine.channels.size() == 1);
  CHECK(l.machine.channels[0].name == "sbx.ctl");
  CHECK(l.machine.channels[0].socket == paths.channel());
  REQUIRE(l.machine.shares.size() == 2);
  CHECK(l.machine.shares[0].source == "/src/demo");
  CHECK(l.machine.shares[0].read_only);       // mounts are read-only unless marked rw
  CHECK_FALSE(l.machine.shares[1].read_only);
  REQUIRE(l.guest_config.mounts.size() == 2);
  CHECK(l.guest_config.mounts[0].target == "/workspace");
  CHECK(l.guest_config.mounts[0].tag == l.machine.shares[0].tag);
  CHECK(l.guest_config.hostname == "sbx-demo");
  CHECK(l.guest_config.env.at("FOO") == "bar");
}

TEST_CASE("the desired digest changes with the Sandboxfile and the artifacts, not otherwise", "[reconcile]") {
  const supervisor::SandboxPaths paths{"/state/sandboxes/demo"};
  const auto base = reconcile::desired_digest(sample(), artifacts(), paths);
  CHECK(base == reconcile::desired_digest(sample(), artifacts(), paths));
  auto more_memory = sample();
  more_memory.resources.memory_bytes = 512ull << 20;
  CHECK(base != reconcile::desired_digest(more_memory, artifacts(), paths));
  auto other = artifacts();
  other.initramfs = "/c/initramfs/def.cpio";
  CHECK(base != reconcile::desired_digest(sample(), other, paths));
}

TEST_CASE("the documented default size is used when the Sandboxfile gives none", "[reconcile]") {
  auto f = sample();
  f.resources.memory_bytes = 0;
  f.resources.cpus = 0;
  const auto l = reconcile::make_launch(f, artifacts(), {"/s"});
  CHECK(l.machine.memory_bytes == 512ull << 20);  // SPEC.md [resources]: memory "512MiB"
  CHECK(l.machine.memory_bytes == config::kDefaultMemoryBytes);
  CHECK(l.machine.cpus == 1);
  CHECK(config::Resources{}.memory_bytes == 512ull << 20);
}

TEST_CASE("an image's Env, User, WorkingDir and command apply where the Sandboxfile is silent", "[reconcile][image]") {
  auto a = artifacts();
  a.image_env = {"PATH=/opt/bin:/bin", "FOO=from-image", "HTTP_PROXY=http://evil:1", "no_proxy=*", "SBX_X=1",
                 "Https_Proxy=http://evil:1", "sbx_y=1"};
  a.image_user = "node";
  a.image_workdir = "/app";
  a.image_command = {"node", "server.js"};
  auto f = sample();
  f.agent.workdir = "/workspace";
  f.agent.user = "agent";
  const auto l = reconcile::make_launch(f, a, {"/s"});
  CHECK(l.guest_config.env.at("PATH") == "/opt/bin:/bin");
  CHECK(l.guest_config.env.at("FOO") == "bar");  // the Sandboxfile wins
  CHECK_FALSE(l.guest_config.env.count("HTTP_PROXY"));  // an image cannot redirect the egress proxy
  CHECK_FALSE(l.guest_config.env.count("no_proxy"));
  CHECK_FALSE(l.guest_config.env.count("SBX_X"));
  CHECK_FALSE(l.guest_config.env.count("Https_Proxy"));  // in any case, as the loader refuses them
  CHECK_FALSE(l.guest_config.env.count("sbx_y"));
  CHECK(l.guest_config.user == "node");
  CHECK(l.guest_config.workdir == "/app");
  CHECK(reconcile::agent_command(f, a) == std::vector<std::string>{"node", "server.js"});
  f.agent.user_given = f.agent.workdir_given = f.agent.command_given = true;
  const auto mine = reconcile::make_launch(f, a, {"/s"});
  CHECK(mine.guest_config.user == "agent");
  CHECK(mine.guest_config.workdir == "/workspace");
  CHECK(reconcile::agent_command(f, a) == f.agent.command);
  // The built-in image has no config: the Sandboxfile's defaults.
  f.agent.user_given = f.agent.workdir_given = f.agent.command_given = false;
  const auto builtin = reconcile::make_launch(f, artifacts(), {"/s"});
  CHECK(builtin.guest_config.user == "agent");
  CHECK(builtin.guest_config.workdir == "/workspace");
  CHECK(reconcile::agent_command(f, artifacts()) == f.agent.command);
}

TEST_CASE("an env secret is named in the launch, never given a value there, and survives launch.json", "[reconcile][security]") {
  auto f = sample();
  config::Secret env;
  env.name = "npm-token";
  env.inject = config::InjectKind::env;
  env.env_var = "NPM_TOKEN";
  config::Secret header;
  header.name = "gh";
  header.hosts = {"api.github.com"};
  header.header = "Authorization";
  f.secrets = {env, header};
  const auto l = reconcile::make_launch(f, artifacts(), supervisor::SandboxPaths{"/state/sandboxes/demo"});
  REQUIRE(l.env_secrets.size() == 1);  // header secrets belong to the egress proxy
  CHECK(l.env_secrets[0].secret == "npm-token");
  CHECK(l.env_secrets[0].env == "NPM_TOKEN");
  CHECK_FALSE(l.guest_config.env.count("NPM_TOKEN"));  // the supervisor adds the value to CONFIG
  const auto back = supervisor::launch_from_json(supervisor::launch_to_json(l), "launch.json");
  REQUIRE(back);
  REQUIRE(back->env_secrets.size() == 1);
  CHECK(back->env_secrets[0].secret == "npm-token");
  CHECK(back->env_secrets[0].env == "NPM_TOKEN");
  CHECK(back->digest == l.digest);
}

TEST_CASE("[docker] adds the read-only modules disk, its serial on the command line and CONFIG's docker switch", "[reconcile][docker]") {
  const supervisor::SandboxPaths paths{"/state/sandboxes/demo"};
  const auto plain = reconcile::make_launch(sample(), artifacts(), paths);
  CHECK(plain.machine.disks.size() == 2);
  CHECK(plain.machine.cmdline.find("sbx.modules=") == std::string::npos);
  CHECK_FALSE(plain.guest_config.docker);
  auto f = sample();
  f.docker.enabled = true;
  f.docker.insecure_registries = {"registry.sbx.test:5000"};
  auto a = artifacts();
  a.modules_disk = "/c/modules/6.1.0-abc.ext4";
  const auto l = reconcile::make_launch(f, a, paths);
  REQUIRE(l.machine.disks.size() == 3);
  CHECK(l.machine.disks[2].path == "/c/modules/6.1.0-abc.ext4");
  CHECK(l.machine.disks[2].read_only);
  CHECK(l.machine.disks[2].serial == "sbx-modules");
  CHECK(l.machine.cmdline.find("sbx.modules=sbx-modules") != std::string::npos);
  CHECK(l.guest_config.docker);
  CHECK(l.guest_config.docker_insecure_registries == std::vector<std::string>{"registry.sbx.test:5000"});
  CHECK(l.digest != plain.digest);
}
