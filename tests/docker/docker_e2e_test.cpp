// End to end: [docker] enabled. One sandbox on the dev image (built once, shared with the agents
// tests' cache), checked in sequence: the daemon comes up and `sbx status` says so; the guest
// loads the kernel modules Docker needs from the modules disk; a busybox image made on the host
// is imported, run, built FROM and composed; a container's request to a host the rules do not
// allow is refused by the egress proxy (403 and the rule, in `sbx logs --egress`); the daemon is
// the guest's own; images survive `sbx down` / `sbx up`.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "sbx_runner.h"
#include "script_server.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using sbx::e2e::RunResult;
using sbx::e2e::Sbx;

namespace {

constexpr const char* kName = "docker-e2e";

// A busybox root file system as a tar archive (what `docker import` takes), made from the host's
// busybox-static: /bin/busybox and the applets the checks use.
void make_busybox_tar(const fs::path& dir, const fs::path& tar) {
  const fs::path root = dir / "bb-root";
  fs::create_directories(root / "bin");
  fs::create_directories(root / "www");
  fs::copy_file("/bin/busybox", root / "bin" / "busybox", fs::copy_options::overwrite_existing);
  for (const char* applet : {"sh", "echo", "cat", "wget", "httpd", "sleep", "true", "ls", "env", "grep", "nc", "printf"})
    fs::create_symlink("busybox", root / "bin" / applet);
  std::ofstream(root / "www" / "index.html") << "served-by-web\n";
  const std::string cmd = "tar -C '" + root.string() + "' -cf '" + tar.string() + "' . 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

RunResult exec_in(const Sbx& sbx, const std::string& script, std::chrono::seconds limit = 600s, const std::string& user = "agent") {
  return sbx.run({"exec", "--name", kName, "--user", user, "--", "sh", "-c", script}, {}, limit);
}

// The docker object of `sbx status --json` ({} when there is none).
json docker_status(const Sbx& sbx) {
  const auto r = sbx.run({"status", "--name", kName, "--json"}, {}, 30s);
  const json j = json::parse(r.out, nullptr, false);
  if (j.is_object() && j.contains("docker")) return j["docker"];
  return json::object();
}

// Waits for the daemon to be reported running (or failed); the last report.
json wait_for_daemon(const Sbx& sbx, std::chrono::seconds limit, double& waited_s) {
  const auto t0 = std::chrono::steady_clock::now();
  json d;
  while (std::chrono::steady_clock::now() - t0 < limit) {
    d = docker_status(sbx);
    const std::string state = d.value("state", "");
    if (state == "running" || state == "failed") break;
    std::this_thread::sleep_for(1s);
  }
  waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return d;
}

}  // namespace

TEST_CASE("a sandbox with [docker] runs its own daemon: run, build, compose, egress, persistence", "[docker]") {
  // Debian's docker-registry on loopback with a busybox image (tests/image/registry_fixture.py).
  // dockerd reaches it by a name the host's egress proxy pins to 127.0.0.1 (Go's proxy support
  // goes around the proxy for loopback literals), allowed with a CIDR rule like any loopback host.
  sbx::testing::ScriptServer reg(fs::path(SBX_E2E_SOURCE_DIR) / "tests" / "image" / "registry_fixture.py", {"--busybox"});
  const std::string reg_port = reg.host().substr(reg.host().rfind(':') + 1);
  const std::string registry = "registry.sbx.test:" + reg_port;
  sbx::test::TempDir tmp("sbx-docker-e2e");
  const fs::path project = tmp.path() / "project";
  fs::create_directories(project);
  make_busybox_tar(tmp.path(), project / "bb.tar");
  std::ofstream(project / "Dockerfile") << "FROM sbx-bb:1\nRUN echo built-in-a-run-step > /built\nCMD [\"cat\", \"/built\"]\n";
  // The client may have the proxy in its environment: its request to the service name goes
  // around it (busybox wget -Y off), as compose's own network is not the outside.
  std::ofstream(project / "docker-compose.yml")
      << "version: \"2.4\"\nservices:\n"
         "  web:\n    image: sbx-bb:1\n    command: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
         "  client:\n    image: sbx-bb:1\n    depends_on: [web]\n"
         "    command: [\"sh\", \"-c\", \"for i in 1 2 3 4 5 6 7 8 9 10; do wget -Y off -q -O- http://web:8080/index.html && exit 0; sleep 1; done; exit 1\"]\n";
  std::ofstream(project / "Sandboxfile") << "version = 1\nname = \"" << kName << "\"\n"
                                         << "[agent]\npreset = \"shell\"\ncommand = [\"/bin/true\"]\n"
                                         << "[[mount]]\nsource = \".\"\ntarget = \"/workspace\"\n"
                                         << "[egress]\nallow = [\"" << registry << "\", \"127.0.0.1/32:" << reg_port << "\"]\n"
                                         << "[docker]\nenabled = true\ninsecure_registries = [\"" << registry << "\"]\n";
  Sbx sbx;
  sbx.env = {"SBX_EGRESS_RESOLVE=registry.sbx.test=127.0.0.1"};

  const auto up = sbx.run({"up", "--yes", project.string()}, {}, 2400s);
  INFO("sbx up stdout: " << up.out << "\nstderr: " << up.err);
  REQUIRE(up.code == 0);

  double waited = 0;
  const json d = wait_for_daemon(sbx, 600s, waited);
  WARN("docker daemon reported " << d.dump() << " " << waited << " s after sbx up returned");
  REQUIRE(d.value("state", "") == "running");
  const auto status = sbx.run({"status", "--name", kName}, {}, 30s);
  CHECK(status.out.find("docker daemon: running") != std::string::npos);

  {
    // The daemon is the guest's own (its name is the guest's hostname), with cgroup v2.
    auto info = exec_in(sbx, "docker info --format '{{.Name}} cgroup{{.CgroupVersion}} {{.Driver}}'");
    INFO("docker info: " << info.out << info.err);
    REQUIRE(info.code == 0);
    CHECK(info.out.find(std::string("sbx-") + kName) != std::string::npos);
    CHECK(info.out.find("cgroup2") != std::string::npos);
    CHECK(info.out.find("overlay2") != std::string::npos);

    auto run = exec_in(sbx, "docker import /workspace/bb.tar sbx-bb:1 >/dev/null && docker run --rm sbx-bb:1 echo hello-from-a-container");
    INFO("docker run: " << run.out << run.err);
    REQUIRE(run.code == 0);
    CHECK(run.out.find("hello-from-a-container") != std::string::npos);

    // A pull goes through the egress proxy and its rules, to the registry on the host's loopback.
    auto pull = exec_in(sbx, "docker pull -q " + registry + "/test/busybox:1 && docker run --rm " + registry + "/test/busybox:1 cat /etc/registry-marker");
    INFO("docker pull: " << pull.out << pull.err);
    CHECK(pull.code == 0);
    CHECK(pull.out.find("pulled from a registry on loopback") != std::string::npos);

    // The bridge network's modules came from the modules disk, loaded on demand.
    auto mods = exec_in(sbx, "grep -E '^(bridge|veth|br_netfilter) ' /proc/modules | cut -d' ' -f1 | sort | tr '\\n' ' '");
    INFO("modules: " << mods.out << mods.err);
    CHECK(mods.out.find("bridge") != std::string::npos);
    CHECK(mods.out.find("veth") != std::string::npos);

    auto build = exec_in(sbx, "cd /workspace && docker build -q -t sbx-built:1 . >/dev/null && docker run --rm sbx-built:1");
    INFO("docker build: " << build.out << build.err);
    CHECK(build.code == 0);
    CHECK(build.out.find("built-in-a-run-step") != std::string::npos);

    auto compose = exec_in(sbx, "cd /workspace && docker-compose -p sbxe2e up --abort-on-container-exit --exit-code-from client 2>&1; rc=$?; docker-compose -p sbxe2e down >/dev/null 2>&1; exit $rc", 900s);
    INFO("docker-compose: " << compose.out << compose.err);
    CHECK(compose.code == 0);
    CHECK(compose.out.find("served-by-web") != std::string::npos);

    // A container's way out is the egress proxy: a host no rule allows is refused with a 403.
    auto refused = exec_in(sbx, "docker run --rm sbx-bb:1 sh -c 'env | grep -i ^http_proxy=; wget -q -O- http://denied.sbx.test/ 2>&1; echo wget-exit=$?'");
    INFO("refused: " << refused.out << refused.err);
    CHECK(refused.out.find("http_proxy=http://172.17.0.1:3128") != std::string::npos);
    CHECK(refused.out.find("403") != std::string::npos);
    CHECK(refused.out.find("wget-exit=0") == std::string::npos);
    // The refusal's body names the rule (here: no allow rule) and the fix, as for the guest itself.
    auto body = exec_in(sbx, "docker run --rm sbx-bb:1 sh -c \"(printf 'GET http://denied.sbx.test/ HTTP/1.0\\r\\nHost: denied.sbx.test\\r\\n\\r\\n'; sleep 5) | nc 172.17.0.1 3128\"");
    INFO("refusal body: " << body.out << body.err);
    CHECK(body.out.find("403") != std::string::npos);
    CHECK(body.out.find("allow") != std::string::npos);
    const auto egress = sbx.run({"logs", "--name", kName, "--egress"}, {}, 30s);
    INFO("egress log: " << egress.out);
    CHECK(egress.out.find("denied.sbx.test") != std::string::npos);
    CHECK(egress.out.find("registry.sbx.test") != std::string::npos);

    // No host Docker socket in the guest: /var/run/docker.sock is the guest daemon's (above), and
    // nothing of the host's is mounted besides the project.
    auto sock = exec_in(sbx, "grep -c docker.sock /proc/mounts || true");
    CHECK(sock.out.find("0") != std::string::npos);
  }

  // The images are on the sandbox disk: still there after down / up.
  REQUIRE(sbx.run({"down", "--name", kName}, {}, 120s).code == 0);
  const auto up2 = sbx.run({"up", "--yes", project.string()}, {}, 600s);
  INFO("second sbx up: " << up2.out << up2.err);
  REQUIRE(up2.code == 0);
  const json d2 = wait_for_daemon(sbx, 600s, waited);
  WARN("after down/up the daemon reported " << d2.dump() << " " << waited << " s after sbx up returned");
  REQUIRE(d2.value("state", "") == "running");
  auto kept = exec_in(sbx, "docker image ls --format '{{.Repository}}:{{.Tag}}'");
  INFO("images: " << kept.out << kept.err);
  CHECK(kept.out.find("sbx-bb:1") != std::string::npos);
  CHECK(kept.out.find("sbx-built:1") != std::string::npos);
  CHECK(sbx.run({"down", "--name", kName}, {}, 120s).code == 0);
}
