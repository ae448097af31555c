#include <catch2/catch.hpp>
#include <filesystem>
#include <unistd.h>

#include "supervisor/launch.h"
#include "supervisor/state.h"
#include "support/temp_dir.h"

using namespace sbx::supervisor;
namespace fs = std::filesystem;

namespace {
using sbx::test::TempDir;

}  // namespace

TEST_CASE("launch.json round-trips every field", "[supervisor]") {
  Launch l;
  l.name = "demo";
  l.digest = "sha256:00";
  l.boot_timeout_ms = 1234;
  l.machine.name = "demo";
  l.machine.kernel = "/k";
  l.machine.initramfs = "/i";
  l.machine.cmdline = "quiet";
  l.machine.memory_bytes = 1ull << 30;
  l.machine.cpus = 3;
  l.machine.disks = {{"/d", true}};
  l.machine.shares = {{"t", "/s.sock", "/src", false}};
  l.machine.channels = {{"sbx.ctl", "/c.sock"}};
  l.machine.console_log = "/console.log";
  l.machine.runtime_dir = "/run";
  l.guest_config.hostname = "sbx-demo";
  l.guest_config.env = {{"A", "1"}};
  l.guest_config.mounts = {{"t", "/workspace", false}};
  l.host_ca_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  auto back = launch_from_json(launch_to_json(l), "launch.json");
  REQUIRE(back.has_value());
  CHECK(launch_to_json(*back) == launch_to_json(l));
  CHECK(back->host_ca_pem == l.host_ca_pem);
  CHECK(back->machine.shares[0].source == "/src");
  CHECK_FALSE(back->machine.shares[0].read_only);
  CHECK(back->machine.shares[0].cache == sbx::vmm::ShareCache::auto_);
}

TEST_CASE("a share's cache policy round-trips and an unknown one is refused", "[supervisor]") {
  Launch l;
  l.name = l.machine.name = "demo";
  l.machine.shares = {{"t", "/s.sock", "/src", true}};
  l.machine.shares[0].cache = sbx::vmm::ShareCache::always;
  std::string text = launch_to_json(l);
  auto back = launch_from_json(text, "launch.json");
  REQUIRE(back.has_value());
  CHECK(back->machine.shares[0].cache == sbx::vmm::ShareCache::always);
  const size_t at = text.find("\"always\"");
  REQUIRE(at != std::string::npos);
  text.replace(at, 8, "\"sometimes\"");
  auto bad = launch_from_json(text, "launch.json");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("unknown cache policy 'sometimes'") != std::string::npos);
}

TEST_CASE("a malformed launch.json is an error, not a crash", "[supervisor]") {
  CHECK_FALSE(launch_from_json("{", "x").has_value());
  CHECK_FALSE(launch_from_json("[]", "x").has_value());
  CHECK_FALSE(launch_from_json(R"({"name": 3})", "x").has_value());
  auto bad_config = launch_from_json(
      R"({"name":"a","digest":"","boot_timeout_ms":1,"machine":{"name":"a","kernel":"","initramfs":"","cmdline":"",)"
      R"("memory_bytes":1,"cpus":1,"disks":[],"shares":[],"channels":[],"console_log":"","runtime_dir":""},)"
      R"("guest_config":{"unknown_key":1}})", "x");
  REQUIRE_FALSE(bad_config.has_value());
  CHECK(bad_config.error().message.find("guest_config") != std::string::npos);
}

TEST_CASE("state.json is written atomically and read back", "[supervisor]") {
  TempDir dir;
  SandboxPaths p{dir.path()};
  SandboxState s;
  s.name = "demo";
  s.phase = Phase::crashed;
  s.supervisor_pid = 42;
  s.error = "the guest kernel panicked";
  s.console_tail = "Kernel panic\n";
  REQUIRE(write_state(p, s).has_value());
  auto back = read_state(p);
  REQUIRE(back.has_value());
  CHECK(back->phase == Phase::crashed);
  CHECK(back->error == s.error);
  CHECK(back->console_tail == s.console_tail);
  CHECK(back->supervisor_pid == 42);
  for (const auto& e : fs::directory_iterator(dir.path())) CHECK(e.path().filename() == "state.json");
  CHECK((fs::status(p.state()).permissions() & fs::perms::others_read) == fs::perms::none);
}

TEST_CASE("a console tail that is not UTF-8 (guest bytes) is recorded in state.json, not a supervisor crash",
          "[supervisor][security]") {
  TempDir dir;
  SandboxPaths p{dir.path()};
  SandboxState s;
  s.name = "demo";
  s.phase = Phase::crashed;
  s.console_tail = "panic \xff\xfe\x1b[31m\n";  // what a hostile guest prints before it dies
  s.error = "the guest said \xc3";
  auto written = write_state(p, s);  // nlohmann's strict dump() threw type_error 316 here
  REQUIRE(written.has_value());
  auto back = read_state(p);
  REQUIRE(back.has_value());
  CHECK(back->console_tail == "panic \xef\xbf\xbd\xef\xbf\xbd\x1b[31m\n");  // U+FFFD per bad byte; escaped at display
  CHECK(back->error == "the guest said \xef\xbf\xbd");
}

TEST_CASE("remove_sockets removes every socket file and keeps the logs", "[supervisor]") {
  TempDir dir;
  SandboxPaths p{dir.path()};
  for (const char* f : {"ctl.sock", "fs0.sock", "console.log"}) std::fclose(std::fopen((dir.path() / f).c_str(), "w"));
  remove_sockets(p);
  CHECK_FALSE(fs::exists(dir.path() / "ctl.sock"));
  CHECK_FALSE(fs::exists(dir.path() / "fs0.sock"));
  CHECK(fs::exists(dir.path() / "console.log"));
}

TEST_CASE("launch.json keeps forwarded ports and refuses a port or address that is not one", "[supervisor][ports]") {
  Launch l;
  l.name = "p";
  l.machine.name = "p";
  l.ports = {{"127.0.0.1", 8080, 3000}, {"::1", 9229, 9229}};
  auto back = launch_from_json(launch_to_json(l), "launch.json");
  REQUIRE(back.has_value());
  CHECK(back->ports == l.ports);
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"\"host_port\": 8080", "\"host_port\": 70000"},
           {"\"guest_port\": 3000", "\"guest_port\": 0"},
           {"\"127.0.0.1\"", "\"localhost\""}}) {
    std::string text = launch_to_json(l);
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    INFO(to);
    CHECK_FALSE(launch_from_json(text, "launch.json").has_value());
  }
}
