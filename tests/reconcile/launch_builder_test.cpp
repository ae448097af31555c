#include <catch2/catch.hpp>

#include "reconcile/launch_builder.h"

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
  REQUIRE(l.machine.disks.size() == 1);
  CHECK(l.machine.disks[0].path == "/c/images/default-1.ext4");
  CHECK(l.machine.disks[0].read_only);
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

TEST_CASE("a default memory size is used when the Sandboxfile gives none", "[reconcile]") {
  auto f = sample();
  f.resources.memory_bytes = 0;
  const auto l = reconcile::make_launch(f, artifacts(), {"/s"});
  CHECK(l.machine.memory_bytes == reconcile::kDefaultMemory);
}
