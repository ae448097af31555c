// End to end: an organisation policy's egress ceiling enforced by a real sandbox's egress proxy.
// The Sandboxfile allows a loopback server; the policy (SBX_POLICY_PATH) first allows it too, so
// `sbx up` passes its static gate; then the policy is tightened while the VM runs and the guest's
// next request gets a 403 naming the policy file:line; then it is widened again and the next
// request passes. No reboot and no `sbx up` in between: the proxy reloads the policy itself.
#include <catch2/catch.hpp>

#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "host_files.h"
#include "http_server.h"
#include "sbx_runner.h"

using namespace sbx::e2e;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The ceiling is on line 6.
std::string policy(const std::string& ceiling) {
  return "version = 1\nname = \"ceiling-e2e\"\nenforcement = \"enforce\"\n\n[egress]\nceiling = " + ceiling + "\n";
}

// An in-place edit would keep the inode; a rename is what editors and config tools do.
void replace_file(const fs::path& p, const std::string& text) {
  write_file(p.string() + ".new", text);
  fs::rename(p.string() + ".new", p);
}

}  // namespace

TEST_CASE("a policy's egress ceiling refuses a host the Sandboxfile allows, from inside the VM, and reloads without a reboot",
          "[e2e][egress][policy][security]") {
  Sbx sbx;
  const fs::path work = sbx.state_dir() / "work";
  const fs::path www = work / "www", project = work / "project", policy_file = work / "policies" / "ceiling.toml";
  fs::create_directories(www);
  fs::create_directories(project);
  fs::create_directories(policy_file.parent_path());
  write_file(www / "hello.txt", "served from the host on loopback\n");
  HttpServer server(www);
  const std::string port = std::to_string(server.port());
  const std::string inside = policy("[\"127.0.0.0/8:" + port + "\"]");
  write_file(policy_file, inside);
  sbx.env = {"SBX_POLICY_PATH=" + policy_file.string(), "SBX_SYSTEM_CONFIG_DIR=" + (work / "etc").string(),
             "SBX_CONFIG_DIR=" + (work / "config").string()};
  write_file(project / "Sandboxfile", "version = 1\nname = \"ceiling-e2e\"\n"
                                      "[agent]\npreset = \"shell\"\ncommand = [\"true\"]\n"
                                      "[image]\nref = \"builtin\"\n"
                                      "[egress]\nallow = [\"127.0.0.1/32:" + port + "\"]\n");
  const auto up = sbx.run({"up", "--detach", project.string()}, {}, 180s);
  INFO(up.err);
  REQUIRE(up.code == 0);
  const std::string name = "ceiling-e2e";
  auto exec = [&](const std::string& script) { return sbx.run({"exec", "--name", name, "--", "sh", "-c", script}, {}, 60s); };
  const std::string boot_id = exec("cat /proc/sys/kernel/random/boot_id").out;
  REQUIRE_FALSE(boot_id.empty());
  const std::string get = "wget -q -O- http://127.0.0.1:" + port + "/hello.txt";
  const auto before = exec(get);
  INFO(before.err);
  CHECK(before.out == "served from the host on loopback\n");

  // Tightened while the VM runs: the Sandboxfile still allows the server, the ceiling does not.
  replace_file(policy_file, policy("[\"*.example.com:443\"]"));
  const std::string raw = "printf 'GET http://127.0.0.1:" + port + "/hello.txt HTTP/1.1\\r\\nHost: 127.0.0.1:" + port +
                          "\\r\\nConnection: close\\r\\n\\r\\n' | timeout 20 busybox nc 127.0.0.1 3128";
  RunResult refused;
  for (int i = 0; i < 40; ++i) {  // the proxy polls its policy files every 500 ms
    refused = exec(raw);
    if (refused.out.find("403") != std::string::npos) break;
    std::this_thread::sleep_for(250ms);
  }
  INFO(refused.out + refused.err);
  CHECK(refused.out.find("HTTP/1.1 403") != std::string::npos);
  CHECK(refused.out.find("rule: " + policy_file.string() + ":6 (egress.ceiling of policy 'ceiling-e2e')") != std::string::npos);
  CHECK(refused.out.find("outside the egress ceiling of policy 'ceiling-e2e'") != std::string::npos);
  CHECK(refused.out.find("served from the host") == std::string::npos);
  const auto wget_refused = exec(get);
  CHECK(wget_refused.code != 0);

  // The egress log names the policy that refused.
  const auto jl = sbx.run({"logs", "--name", name, "--egress", "--json"}, {}, 30s);
  REQUIRE(jl.code == 0);
  int by_policy = 0;
  std::istringstream lines(jl.out);
  for (std::string line; std::getline(lines, line);) {
    const auto j = json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    if (j["decision"] == "deny" && j.value("policy", "") == "ceiling-e2e") {
      ++by_policy;
      CHECK(j["rule"] == policy_file.string() + ":6");
    }
  }
  CHECK(by_policy >= 1);

  // Widened again: the next request passes, in the same boot.
  replace_file(policy_file, inside);
  RunResult after;
  for (int i = 0; i < 40; ++i) {
    after = exec(get);
    if (after.code == 0) break;
    std::this_thread::sleep_for(250ms);
  }
  CHECK(after.out == "served from the host on loopback\n");
  CHECK(exec("cat /proc/sys/kernel/random/boot_id").out == boot_id);
  CHECK(sbx.run({"down", "--name", name}, {}, 60s).code == 0);
}
