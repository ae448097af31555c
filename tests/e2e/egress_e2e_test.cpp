// End to end: the egress path of a real sandbox. Programs in the guest use the HTTP proxy the
// agent points them at; the supervisor hands each connection to the sandbox's egress proxy child,
// which decides it against the Sandboxfile. Real HTTP servers on loopback only. One boot serves
// every check (TCG boots are the expensive part).
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "http_server.h"
#include "host_files.h"
#include "sbx_runner.h"

using namespace sbx::e2e;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSecretValue = "e2e-secret-Zq81xPv";

std::string sandboxfile(int allowed_port, int second_port_or_0) {
  std::string allow = "\"127.0.0.1/32:" + std::to_string(allowed_port) + "\", \"localhost:" + std::to_string(allowed_port) + "\"";
  if (second_port_or_0) allow += ", \"127.0.0.1/32:" + std::to_string(second_port_or_0) + "\"";
  return "version = 1\nname = \"egress-e2e\"\n"
         "[agent]\npreset = \"shell\"\ncommand = [\"true\"]\n"
         "[image]\nref = \"builtin\"\n"
         "[egress]\nallow = [" + allow + "]\ntrust_host_ca = true\n"
         "[[secret]]\nname = \"E2E_TOKEN\"\ninject = \"header\"\nhosts = [\"localhost\"]\n"
         "header = \"Authorization\"\ntemplate = \"Bearer {}\"\n";
}

json status(const Sbx& sbx) {
  const auto r = sbx.run({"status", "--name", "egress-e2e", "--json"}, {}, 30s);
  const auto j = json::parse(r.out, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

}  // namespace

TEST_CASE("guest programs reach allowed hosts through the egress proxy, refusals explain themselves, and [egress] reloads without a reboot", "[e2e][egress]") {
  Sbx sbx;
  const fs::path work = sbx.state_dir() / "work";
  const fs::path www = work / "www", project = work / "project", data = work / "data";
  fs::create_directories(www);
  fs::create_directories(project);
  fs::create_directories(data);
  write_file(www / "hello.txt", "served from the host on loopback\n");
  HttpServer server(www), second(www);

  // A private secret store (key-file mode) for the header secret; the kernel is found without it.
  const char* old_data = std::getenv("SBX_DATA_DIR");
  const std::string saved_data = old_data ? old_data : "";
  ::setenv("SBX_DATA_DIR", data.c_str(), 1);
  struct Restore {
    std::string v;
    bool had;
    ~Restore() { had ? ::setenv("SBX_DATA_DIR", v.c_str(), 1) : ::unsetenv("SBX_DATA_DIR"); }
  } restore{saved_data, old_data != nullptr};

  // A CA "this host's administrator added" ([egress] trust_host_ca), in a directory of its own.
  const fs::path host_ca = work / "host-ca";
  fs::create_directories(host_ca);
  REQUIRE(std::system(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "
                       "/CN=sbx-e2e-host-ca -keyout " + (work / "host-ca.key").string() + " -out " +
                       (work / "host-ca.pem").string() + " 2>/dev/null").c_str()) == 0);
  const std::string host_ca_pem = read_file(work / "host-ca.pem");
  // What sbx re-encodes: the certificate alone, without the comment around it.
  write_file(host_ca / "local.crt", "# added by the e2e test\n" + host_ca_pem);
  write_file(host_ca / "README", "not a certificate, and not named like one\n");
  sbx.env.push_back("SBX_HOST_CA_DIR=" + host_ca.string());

  write_file(project / "Sandboxfile", sandboxfile(server.port(), 0));
  const auto plan = sbx.run({"plan", project.string()}, {}, 60s);
  CHECK(plan.out.find("1 CA certificate(s) this host added (trust_host_ca = true): " + (host_ca / "local.crt").string()) != std::string::npos);
  const auto missing = sbx.run({"up", "--detach", project.string()}, {}, 60s);
  INFO(missing.err);
  CHECK(missing.code != 0);  // the header secret is not in the store: refused before booting
  CHECK(missing.err.find("E2E_TOKEN") != std::string::npos);
  CHECK_FALSE(fs::exists(sbx.sandbox_dir("egress-e2e") / "console.log"));

  const auto set = sbx.run({"secret", "set", "E2E_TOKEN"}, kSecretValue, 60s);
  INFO(set.err);
  REQUIRE(set.code == 0);

  const auto up = sbx.run({"up", "--detach", project.string()}, {}, 180s);
  INFO(up.err);
  REQUIRE(up.code == 0);
  const json st = status(sbx);
  REQUIRE(st.contains("egress"));
  CHECK(st["egress"]["state"] == "running");
  const long vmm_pid = st.value("vmm_pid", 0L);
  const std::string name = "egress-e2e";
  auto exec = [&](const std::string& script) {
    return sbx.run({"exec", "--name", name, "--", "sh", "-c", script}, {}, 60s);
  };
  const std::string boot_id = exec("cat /proc/sys/kernel/random/boot_id").out;
  REQUIRE_FALSE(boot_id.empty());
  const std::string port = std::to_string(server.port()), port2 = std::to_string(second.port());

  // Allowed by a CIDR rule: the content arrives.
  const auto get = exec("wget -q -O- http://127.0.0.1:" + port + "/hello.txt");
  INFO(get.err);
  CHECK(get.code == 0);
  CHECK(get.out == "served from the host on loopback\n");

  // Refused: the 403 body names the rule or default and the line to add.
  auto raw = [&](const std::string& host_port) {
    return exec("printf 'GET http://" + host_port + "/ HTTP/1.1\\r\\nHost: " + host_port +
                "\\r\\nConnection: close\\r\\n\\r\\n' | timeout 20 busybox nc 127.0.0.1 3128");
  };
  const auto other_port = raw("127.0.0.1:" + port2);
  INFO(other_port.out + other_port.err);
  CHECK(other_port.out.find("403") != std::string::npos);
  CHECK(other_port.out.find("Sandboxfile:") != std::string::npos);  // the rule that matched the host
  CHECK(other_port.out.find("127.0.0.1:" + port2) != std::string::npos);
  const auto unknown = raw("denied.example.invalid");
  INFO(unknown.out);
  CHECK(unknown.out.find("403") != std::string::npos);
  CHECK(unknown.out.find("default") != std::string::npos);
  CHECK(unknown.out.find("allow = [\"denied.example.invalid\"]") != std::string::npos);

  // The guest trusts the sandbox's CA and the host's added one: the bundle ends with them, Node
  // gets them alone.
  const std::string proxy_ca = read_file(sbx.sandbox_dir(name) / "ca.crt");
  REQUIRE(proxy_ca.find("BEGIN CERTIFICATE") != std::string::npos);
  const std::string ca = proxy_ca + host_ca_pem;
  const auto trust = exec("for v in SSL_CERT_FILE CURL_CA_BUNDLE REQUESTS_CA_BUNDLE GIT_SSL_CAINFO NODE_EXTRA_CA_CERTS; do "
                          "eval echo $v=\\$$v; done; cat \"$NODE_EXTRA_CA_CERTS\"; echo ---; cat \"$SSL_CERT_FILE\"");
  CHECK(trust.out.find("SSL_CERT_FILE=/run/sbx/ca-bundle.crt\nCURL_CA_BUNDLE=/run/sbx/ca-bundle.crt\n"
                       "REQUESTS_CA_BUNDLE=/run/sbx/ca-bundle.crt\nGIT_SSL_CAINFO=/run/sbx/ca-bundle.crt\n"
                       "NODE_EXTRA_CA_CERTS=/run/sbx/egress-ca.crt\n") == 0);
  CHECK(trust.out.find(ca + "---\n") != std::string::npos);
  CHECK((trust.out.size() >= ca.size() && trust.out.compare(trust.out.size() - ca.size(), ca.size(), ca) == 0));

  // Decisions are logged; sbx logs --egress prints them.
  const auto jl = sbx.run({"logs", "--name", name, "--egress", "--json"}, {}, 30s);
  REQUIRE(jl.code == 0);
  int allows = 0, denies = 0;
  std::istringstream lines(jl.out);
  for (std::string line; std::getline(lines, line);) {
    const auto j = json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    if (j["decision"] == "allow" && j["host"] == "127.0.0.1" && j["port"] == server.port()) ++allows;
    if (j["decision"] == "deny" && j["host"] == "denied.example.invalid") {
      ++denies;
      CHECK(j["rule"] == "default");
    }
  }
  CHECK(allows >= 1);
  CHECK(denies == 1);
  const auto table = sbx.run({"logs", "--name", name, "--egress"}, {}, 30s);
  CHECK(table.out.find("deny") != std::string::npos);
  CHECK(table.out.find("fix: add to [egress]") != std::string::npos);

  // Hot reload: allow the second port; the VM keeps running (same QEMU, same boot).
  write_file(project / "Sandboxfile", sandboxfile(server.port(), second.port()));
  const auto hot = sbx.run({"up", "--detach", "--yes", project.string()}, {}, 60s);
  INFO(hot.err);
  CHECK(hot.code == 0);
  CHECK(hot.err.find("hot-update") != std::string::npos);
  CHECK(hot.err.find("without a reboot") != std::string::npos);
  const auto get2 = exec("wget -q -O- http://127.0.0.1:" + port2 + "/hello.txt");
  CHECK(get2.out == "served from the host on loopback\n");
  CHECK(status(sbx).value("vmm_pid", 0L) == vmm_pid);
  CHECK(exec("cat /proc/sys/kernel/random/boot_id").out == boot_id);
  const auto again = sbx.run({"up", "--detach", project.string()}, {}, 60s);
  CHECK(again.err.find("nothing") != std::string::npos);

  // The secret value is in no file sbx wrote and nowhere in the guest's environment.
  CHECK(exec("env; cat /run/sbx/* 2>/dev/null").out.find(kSecretValue) == std::string::npos);
  for (const auto& e : fs::recursive_directory_iterator(sbx.sandbox_dir(name)))
    if (e.is_regular_file()) CHECK(read_file(e.path()).find(kSecretValue) == std::string::npos);

  // A dead egress proxy is restarted by the supervisor (a new pid), and connections work again.
  const long egress_pid = status(sbx)["egress"].value("pid", 0L);
  REQUIRE(egress_pid > 0);
  ::kill(static_cast<pid_t>(egress_pid), SIGKILL);
  json back;
  for (int i = 0; i < 100; ++i) {
    back = status(sbx);
    if (back["egress"]["state"] == "running" && back["egress"].value("pid", 0L) != egress_pid) break;
    std::this_thread::sleep_for(100ms);
  }
  CHECK(back["egress"]["state"] == "running");
  CHECK(back["egress"].value("restarts", 0) == 1);
  CHECK(exec("wget -q -O- http://127.0.0.1:" + port + "/hello.txt").out == "served from the host on loopback\n");
  CHECK(sbx.run({"down", "--name", name}, {}, 60s).code == 0);
}
