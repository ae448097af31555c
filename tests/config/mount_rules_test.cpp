#include <catch2/catch.hpp>

#include "config/mount_rules.h"
#include "load_helpers.h"

using namespace sbx::config;
using namespace sbx::config::test;

TEST_CASE("a guest path is under a root when it is the root or below a '/' of it", "[config][mount]") {
  CHECK(guest_path_under("/proc", "/proc"));
  CHECK(guest_path_under("/proc/1/mem", "/proc"));
  CHECK_FALSE(guest_path_under("/process", "/proc"));
  CHECK_FALSE(guest_path_under("/", "/proc"));
}

TEST_CASE("a mount may not cover the root, the kernel's file systems or a system directory", "[config][mount][security]") {
  for (const char* t : {"/proc", "/proc/sys", "/sys", "/sys/kernel", "/dev", "/dev/shm"}) {
    INFO(t);
    auto r = check_mount_target(t);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message == std::string("cannot mount over '") + t + "'");
    CHECK(r.error().hint.find("guest kernel") != std::string::npos);
  }
  REQUIRE_FALSE(check_mount_target("/").has_value());
  CHECK(check_mount_target("/").error().message == "cannot mount over '/'");
  for (const char* t : {"/bin", "/boot", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/run", "/sbin", "/usr", "/var"}) {
    INFO(t);
    auto r = check_mount_target(t);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message == std::string("cannot mount over the guest's system directory '") + t + "'");
    CHECK(r.error().hint.find(std::string(t) + "/myapp") != std::string::npos);
  }
}

TEST_CASE("a mount may go below a system directory or anywhere else", "[config][mount]") {
  for (const char* t : {"/workspace", "/etc/myapp", "/usr/local/share/x", "/var/cache/pip", "/devices", "/procfs", "/srv"}) {
    INFO(t);
    CHECK(check_mount_target(t).has_value());
  }
}

TEST_CASE("the loader reports a forbidden target at the target and keeps the other mounts", "[config][loader][mount]") {
  const sbx::Error e = load_err("version = 1\n[[mount]]\nsource = \".\"\ntarget = \"/usr\"\n[[mount]]\nsource = \".\"\ntarget = \"/proc/x\"\n");
  REQUIRE(e.details.size() == 2);
  CHECK(e.details[0].location.str() == "Sandboxfile:4:10");
  CHECK(e.details[0].message == "cannot mount over the guest's system directory '/usr'");
  CHECK(e.details[1].location.str() == "Sandboxfile:7:10");
  CHECK(e.details[1].message == "cannot mount over '/proc/x'");
}
