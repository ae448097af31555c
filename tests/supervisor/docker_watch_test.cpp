#include <catch2/catch.hpp>

#include "supervisor/docker_watch.h"
#include "supervisor/launch.h"

using namespace sbx::supervisor;

TEST_CASE("the agent's docker state lines are read, dockerd's relayed lines are not", "[supervisor][docker]") {
  auto r = parse_docker_line("sbx-guest [  12.345] docker state: running (ready after 4321 ms)");
  REQUIRE(r);
  CHECK(r->state == "running");
  CHECK(r->detail == "ready after 4321 ms");
  r = parse_docker_line("sbx-guest [   3.000] docker state: failed: dockerd exited (exit status 1)\r");
  REQUIRE(r);
  CHECK(r->state == "failed");
  CHECK(r->detail == "dockerd exited (exit status 1)");
  CHECK(parse_docker_line("sbx-guest [   3.000] docker state: starting")->state == "starting");
  // dockerd's own output (or a container named to look like a report) cannot forge one.
  CHECK_FALSE(parse_docker_line("sbx-guest [   5.000] dockerd: sbx-guest [1.0] docker state: running"));
  CHECK_FALSE(parse_docker_line("sbx-guest [x] docker state: running"));
  CHECK_FALSE(parse_docker_line("docker state: running"));
  CHECK_FALSE(parse_docker_line("sbx-guest [   5.000] docker state: runningish"));
}

TEST_CASE("the console watch splits lines across reads and keeps the last report", "[supervisor][docker]") {
  DockerWatch w;
  CHECK_FALSE(w.feed("kernel noise\nsbx-guest [   1.000] docker sta"));
  CHECK(w.feed("te: starting\nmore"));
  CHECK(w.last()->state == "starting");
  CHECK(w.feed("\nsbx-guest [   9.000] docker state: running (ready after 8000 ms)\n"));
  CHECK(w.last()->state == "running");
  // An overlong line is dropped whole, not parsed from its truncated start.
  CHECK_FALSE(w.feed("sbx-guest [   9.500] docker state: failed: " + std::string(5000, 'x') + "\n"));
  CHECK(w.last()->state == "running");
}

TEST_CASE("launch.json keeps the guest CONFIG's docker switch and the modules disk", "[supervisor][docker]") {
  Launch l;
  l.name = "d";
  l.digest = "sha256:00";
  l.machine.name = "d";
  l.machine.kernel = "/k";
  l.machine.initramfs = "/i";
  l.machine.disks = {{"/root.ext4", true}, {"/modules.ext4", true, "sbx-modules"}};
  l.guest_config.docker = true;
  auto back = launch_from_json(launch_to_json(l), "launch.json");
  REQUIRE(back.has_value());
  CHECK(back->guest_config.docker);
  REQUIRE(back->machine.disks.size() == 2);
  CHECK(back->machine.disks[1].serial == "sbx-modules");
  CHECK(back->machine.disks[1].read_only);
  l.guest_config.docker = false;
  CHECK(launch_to_json(l).find("docker") == std::string::npos);  // launches without it keep their digests
}
