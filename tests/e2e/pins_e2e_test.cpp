// End to end: SBX_EGRESS_RESOLVE in a real sandbox. A name pinned on the host reaches a loopback
// server from inside the VM (no /etc/hosts, no DNS) only while a CIDR rule allows loopback; without
// it the guest gets the 403 naming the range and the rule to add. The pins survive an egress
// proxy restart, show in `sbx status`, and change (or go) with a hot update. One boot.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "http_server.h"
#include "sbx_runner.h"

using namespace sbx::e2e;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string sandboxfile(int port, bool cidr) {
  const std::string p = std::to_string(port);
  return "version = 1\nname = \"pins-e2e\"\n"
         "[agent]\npreset = \"shell\"\ncommand = [\"true\"]\n"
         "[image]\nref = \"builtin\"\n"
         "[egress]\nallow = [\"provider.pinned.test:" + p + "\"" + (cidr ? ", \"127.0.0.1/32:" + p + "\"" : std::string()) + "]\n";
}

}  // namespace

TEST_CASE("a name pinned with SBX_EGRESS_RESOLVE reaches a loopback server from the VM only with a CIDR rule, and the pin survives a proxy restart", "[e2e][egress][pins][security]") {
  Sbx sbx;
  const fs::path work = sbx.state_dir() / "work";
  const fs::path www = work / "www", project = work / "project";
  fs::create_directories(www);
  fs::create_directories(project);
  std::ofstream(www / "hello.txt") << "served to a pinned name\n";
  HttpServer server(www);
  const std::string port = std::to_string(server.port()), name = "pins-e2e";
  std::ofstream(project / "Sandboxfile") << sandboxfile(server.port(), true);

  // A malformed value is refused before anything boots, naming the variable.
  sbx.env = {"SBX_EGRESS_RESOLVE=provider.pinned.test=127.1"};
  const auto bad = sbx.run({"up", "--detach", project.string()}, {}, 60s);
  CHECK(bad.code == 2);
  CHECK(bad.err.find("SBX_EGRESS_RESOLVE") != std::string::npos);
  CHECK_FALSE(fs::exists(sbx.sandbox_dir(name) / "console.log"));

  sbx.env = {"SBX_EGRESS_RESOLVE=provider.pinned.test=127.0.0.1"};
  const auto plan = sbx.run({"plan", "--json", project.string()}, {}, 30s);
  const auto pj = json::parse(plan.out, nullptr, false);
  REQUIRE_FALSE(pj.is_discarded());
  CHECK(pj["egress_pins"] == json::parse(R"([{"name":"provider.pinned.test","addresses":["127.0.0.1"]}])"));
  const auto up = sbx.run({"up", "--detach", project.string()}, {}, 180s);
  INFO(up.err);
  REQUIRE(up.code == 0);
  CHECK(up.err.find("egress pins from SBX_EGRESS_RESOLVE: provider.pinned.test=127.0.0.1") != std::string::npos);
  auto exec = [&](const std::string& script) { return sbx.run({"exec", "--name", name, "--", "sh", "-c", script}, {}, 60s); };
  auto status = [&] {
    const auto j = json::parse(sbx.run({"status", "--name", name, "--json"}, {}, 30s).out, nullptr, false);
    return j.is_discarded() ? json::object() : j;
  };
  const std::string url = "http://provider.pinned.test:" + port + "/hello.txt";

  // The guest has no resolver for the name: only the proxy's pin can make this work.
  CHECK(exec("grep -c pinned /etc/hosts; true").out.find('1') == std::string::npos);
  auto get = exec("wget -q -O- " + url);
  INFO(get.err);
  CHECK(get.code == 0);
  CHECK(get.out == "served to a pinned name\n");
  json st = status();
  CHECK(st["egress"]["pins"] == json::parse(R"([{"name":"provider.pinned.test","addresses":["127.0.0.1"]}])"));
  CHECK(sbx.run({"status", "--name", name}, {}, 30s).out.find("egress pins: provider.pinned.test=127.0.0.1") != std::string::npos);

  // A restarted egress proxy reads the pins from launch.json again.
  const long egress_pid = st["egress"].value("pid", 0L);
  REQUIRE(egress_pid > 0);
  ::kill(static_cast<pid_t>(egress_pid), SIGKILL);
  for (int i = 0; i < 100; ++i) {
    st = status();
    if (st["egress"]["state"] == "running" && st["egress"].value("pid", 0L) != egress_pid) break;
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(st["egress"]["state"] == "running");
  CHECK(exec("wget -q -O- " + url).out == "served to a pinned name\n");

  // Without the CIDR rule the pinned loopback address is refused: the 403 names the range and
  // the CIDR line to add. The file changes, the VM does not (hot update).
  std::ofstream(project / "Sandboxfile") << sandboxfile(server.port(), false);
  const auto hot = sbx.run({"up", "--detach", project.string()}, {}, 60s);
  INFO(hot.err);
  CHECK(hot.code == 0);
  CHECK(hot.err.find("hot-update") != std::string::npos);
  const std::string raw = "printf 'GET " + url + " HTTP/1.1\\r\\nHost: provider.pinned.test:" + port +
                          "\\r\\nConnection: close\\r\\n\\r\\n' | timeout 20 busybox nc 127.0.0.1 3128";
  const auto refused = exec(raw);
  INFO(refused.out);
  CHECK(refused.out.find("403") != std::string::npos);
  CHECK(refused.out.find("127.0.0.0/8 (loopback)") != std::string::npos);
  CHECK(refused.out.find("allow = [\"127.0.0.1/32:" + port + "\"]") != std::string::npos);

  // Back with the rule, and an `sbx up` without the variable: the pin goes (hot update), so the
  // name is looked up in DNS, where it does not exist. The rule comes back: a widening, so --yes.
  std::ofstream(project / "Sandboxfile") << sandboxfile(server.port(), true);
  sbx.env = {"SBX_EGRESS_RESOLVE="};
  const auto unpin = sbx.run({"up", "--detach", "--yes", project.string()}, {}, 60s);
  INFO(unpin.err);
  CHECK(unpin.code == 0);
  CHECK(unpin.err.find("hot-update") != std::string::npos);
  CHECK(status()["egress"]["pins"] == json::array());
  const auto gone = exec(raw);
  INFO(gone.out);
  CHECK(gone.out.find("502") != std::string::npos);
  CHECK(gone.out.find("served to a pinned name") == std::string::npos);
  CHECK(sbx.run({"down", "--name", name}, {}, 60s).code == 0);
}
