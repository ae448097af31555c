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

TEST_CASE("a local path is relative, normalised and stays inside the mount", "[config][mount][security]") {
  for (const char* ok : {"node_modules", ".venv", "target", "packages/app/node_modules", "a.b/..c"}) {
    INFO(ok);
    CHECK(check_local_path(ok).has_value());
  }
  auto message = [](const char* p) { auto r = check_local_path(p); REQUIRE_FALSE(r.has_value()); return r.error(); };
  CHECK(message("/node_modules").message == "the 'local' path '/node_modules' is absolute");
  CHECK(message("../x").message == "the 'local' path '../x' leaves the mount ('..')");
  CHECK(message("a/../../x").message == "the 'local' path 'a/../../x' leaves the mount ('..')");
  CHECK(message("./node_modules/").message == "the 'local' path './node_modules/' is not normalised");
  CHECK(message("./node_modules/").hint == "write \"node_modules\"");
  CHECK(message("a//b").hint == "write \"a/b\"");
  CHECK(message(".").message == "the 'local' path '.' names the mount itself");
  CHECK(message("").message == "a 'local' path is empty");
  CHECK(message("a\nb").message.find("control character") != std::string::npos);
  CHECK(message(std::string(300, 'x').c_str()).message.find("longer than 255 bytes") != std::string::npos);
  std::string long_path;
  while (long_path.size() <= kMaxLocalPathBytes) long_path += "abcdefgh/";
  long_path += "z";
  CHECK(message(long_path.c_str()).message.find("longer than 1024 bytes") != std::string::npos);
}

TEST_CASE("the loader reads a mount's local list and reports bad entries where they are", "[config][loader][mount]") {
  auto f = load_ok("version = 1\n[[mount]]\nsource = \".\"\ntarget = \"/w\"\nlocal = [\"node_modules\", \".venv\", \"target\"]\n");
  REQUIRE(f.mounts.size() == 1);
  CHECK(f.mounts[0].local == std::vector<std::string>{"node_modules", ".venv", "target"});
  auto e = load_err("version = 1\n[[mount]]\nsource = \".\"\ntarget = \"/w\"\nlocal = [\"ok\", \"../up\", \"ok/inner\"]\n");
  const std::string text = e.render();
  INFO(text);
  CHECK(text.find("Sandboxfile:5:16: error: the 'local' path '../up' leaves the mount ('..')") != std::string::npos);
  CHECK(text.find("the 'local' path 'ok/inner' overlaps 'ok'") != std::string::npos);
  auto many = std::string("version = 1\n[[mount]]\nsource = \".\"\ntarget = \"/w\"\nlocal = [");
  for (int i = 0; i < 17; ++i) many += "\"d" + std::to_string(i) + "\",";
  many += "]\n";
  CHECK(load_err(many).render().find("at most 16") != std::string::npos);
  auto nested = load_err("version = 1\n[[mount]]\nsource = \".\"\ntarget = \"/w\"\nlocal = [\"node_modules\"]\n"
                         "[[mount]]\nsource = \"/tmp\"\ntarget = \"/w/node_modules/x\"\n");
  CHECK(nested.render().find("target '/w/node_modules/x' overlaps the local path 'node_modules' of the mount at line 2") != std::string::npos);
}
