// End to end: the real sbx binary boots real microVMs (software emulation here). One booted
// sandbox serves many checks (Catch2 sections share the process-wide fixture).
#include <catch2/catch.hpp>
#include <csignal>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "sbx_runner.h"
#include "support/wait.h"

using namespace sbx::e2e;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json status_json(const Sbx& sbx) {
  const auto r = sbx.run({"status", "--name", "hello", "--json"}, {}, 30s);
  const auto j = json::parse(r.out, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// Poll `sbx status` until the sandbox reaches `state`, at most `limit`.
json wait_state(const Sbx& sbx, const std::string& state, std::chrono::seconds limit) {
  json j;
  sbx::test::wait_until([&] { return (j = status_json(sbx)).value("state", "") == state; }, limit, 100ms);
  return j;
}

// True while a process of the sandbox runs exactly `argv` (read from /proc in the guest).
bool guest_runs(const Sbx& sbx, const std::string& argv) {
  const auto r = sbx.run({"exec", "--name", "hello", "--", "sh", "-c",
                          "for f in /proc/[0-9]*/cmdline; do [ \"$(tr '\\0' ' ' < $f)\" = '" + argv +
                              " ' ] && echo found; done"},
                         {}, 30s);
  return r.out.find("found") != std::string::npos;
}

// One booted hello sandbox for every section of the shared test case.
struct Booted {
  Sbx sbx;
  RunResult up;
  json status;
  Booted() {
    up = sbx.run({"up", Sbx::hello_project().string()}, {}, 180s);
    status = status_json(sbx);
  }
};

Booted& booted() {
  static std::unique_ptr<Booted> b = std::make_unique<Booted>();
  return *b;
}

}  // namespace

TEST_CASE("a booted sandbox runs the agent, exec commands, and goes down without leftovers", "[e2e]") {
  Booted& b = booted();
  const Sbx& sbx = b.sbx;
  const std::string project = Sbx::hello_project().string();
  INFO("sbx up stderr: " << b.up.err);
  REQUIRE(b.up.code == 0);

  SECTION("sbx up prints the agent command's output from inside the VM") {
    CHECK(b.up.out.find("hello from sbx: Linux") != std::string::npos);
    CHECK(b.up.out.find("on sbx-hello") != std::string::npos);
    CHECK(b.status.value("state", "") == "running");
    CHECK(alive(b.status.value("supervisor_pid", 0L)));
    CHECK(alive(b.status.value("vmm_pid", 0L)));
  }
  SECTION("exec echoes its arguments through the guest") {
    const auto r = sbx.run({"exec", "--name", "hello", "--", "echo", "one", "two words"}, {}, 60s);
    CHECK(r.code == 0);
    CHECK(r.out == "one two words\n");
  }
  SECTION("the guest CPU has AVX2 and BMI2, which agent CLIs' native binaries need") {
    const auto r = sbx.run({"exec", "--name", "hello", "--", "sh", "-c", "grep -m1 '^flags' /proc/cpuinfo"}, {}, 60s);
    CHECK(r.code == 0);
    CHECK(r.out.find(" avx2") != std::string::npos);
    CHECK(r.out.find(" bmi2") != std::string::npos);
    CHECK(r.out.find(" sse4_2") != std::string::npos);
  }
  SECTION("exec runs in the Sandboxfile's sandbox when started in its directory, as the agent user") {
    const auto r = sbx.run({"exec", "--", "sh", "-c", "id -un; pwd; ls /workspace"}, {}, 60s, project);
    CHECK(r.code == 0);
    CHECK(r.out == "agent\n/workspace\nSandboxfile\n");
  }
  SECTION("exit codes propagate, including 128+N for a signal and 127 for a missing program") {
    CHECK(sbx.run({"exec", "--name", "hello", "--", "sh", "-c", "exit 42"}).code == 42);
    CHECK(sbx.run({"exec", "--name", "hello", "--", "false"}).code == 1);
    CHECK(sbx.run({"exec", "--name", "hello", "--", "sh", "-c", "kill -KILL $$"}).code == 128 + 9);
    const auto missing = sbx.run({"exec", "--name", "hello", "--", "/no/such/program"});
    CHECK(missing.code == 127);
    CHECK(missing.err.find("/no/such/program") != std::string::npos);
  }
  SECTION("stdin is piped to the command and stderr stays separate") {
    std::string input;
    for (int i = 0; i < 20000; ++i) input += "line " + std::to_string(i) + "\n";  // > one window
    const auto r = sbx.run({"exec", "--name", "hello", "--", "sh", "-c", "wc -l; echo oops >&2"}, input, 60s);
    CHECK(r.code == 0);
    CHECK(r.out.find("20000") != std::string::npos);
    CHECK(r.err == "oops\n");
  }
  SECTION("SIGTERM sent to sbx exec reaches the command in the guest") {
    Running run = sbx.start({"exec", "--name", "hello", "--", "sh", "-c",
                             "trap 'echo got TERM; exit 3' TERM; echo started; while true; do sleep 1; done"});
    std::string seen;
    REQUIRE(Sbx::wait_for_output(run, "started", seen, 60s));
    ::kill(run.pid, SIGTERM);
    const auto r = Sbx::finish(run, seen, 30s);
    CHECK_FALSE(r.timed_out);
    CHECK(r.out.find("got TERM") != std::string::npos);
    CHECK(r.code == 3);
  }
  SECTION("sbx shell gives a terminal of the local size, delivers Ctrl-C and returns the exit status") {
    Running sh = sbx.start_pty({"shell", "--name", "hello"}, 33, 99);
    std::string seen;
    auto type = [&](const std::string& keys) { CHECK(::write(sh.out_fd, keys.data(), keys.size()) == (ssize_t)keys.size()); };
    type("stty size\r");
    CHECK(Sbx::wait_for_output(sh, "33 99", seen, 60s));
    type("sleep 30; echo finished\r");
    // Ctrl-C must reach the running sleep, not the shell still reading the line.
    CHECK(sbx::test::wait_until([&] { return guest_runs(sbx, "sleep 30"); }, 60s, 200ms));
    type("\x03");
    type("echo status=$?\r");
    CHECK(Sbx::wait_for_output(sh, "status=130", seen, 30s));
    CHECK(seen.find("\nfinished") == std::string::npos);  // the echo of the typed line does not count
    type("exit 5\r");
    const auto r = Sbx::finish(sh, seen, 30s);
    CHECK(r.code == 5);
  }
  SECTION("a guest connection to a host the Sandboxfile does not allow is refused by the egress proxy") {
    // No packet leaves the VM: it has no NIC; the guest proxy listener forwards over the channel
    // to the sandbox's egress proxy, which refuses example.com (hello allows nothing) with a 403.
    const auto r = sbx.run({"exec", "--name", "hello", "--", "sh", "-c", "wget -O- http://example.com/ 2>&1; echo rc=$?"}, {}, 60s);
    CHECK(r.out.find("403") != std::string::npos);
    CHECK(r.out.find("rc=1") != std::string::npos);
  }
  SECTION("50 sequential execs all succeed") {
    int ok = 0;
    for (int i = 0; i < 50; ++i) {
      const auto r = sbx.run({"exec", "--name", "hello", "--", "echo", std::to_string(i)}, {}, 30s);
      if (r.code == 0 && r.out == std::to_string(i) + "\n") ++ok;
    }
    CHECK(ok == 50);
  }
  SECTION("sbx up again finds the sandbox up to date and reuses it") {
    const long before = status_json(sbx).value("supervisor_pid", 0L);
    const auto r = sbx.run({"up", "--detach", project}, {}, 60s);
    CHECK(r.code == 0);
    CHECK(r.err.find("nothing") != std::string::npos);
    CHECK(status_json(sbx).value("supervisor_pid", 0L) == before);
  }
  SECTION("status and logs describe the running sandbox") {
    const auto s = status_json(sbx);
    CHECK(s.value("state", "") == "running");
    CHECK((s.value("accel", "") == "tcg" || s.value("accel", "") == "kvm"));
    CHECK(s.value("ready_ms", 0) > 0);
    const auto logs = sbx.run({"logs", "--name", "hello"}, {}, 30s);
    CHECK(logs.out.find("sandbox ready") != std::string::npos);
  }
  SECTION("sbx down powers off and leaves no process or socket behind") {
    const auto before = status_json(sbx);
    const long sup = before.value("supervisor_pid", 0L), vmm = before.value("vmm_pid", 0L);
    const auto r = sbx.run({"down", "--name", "hello"}, {}, 60s);
    CHECK(r.code == 0);
    CHECK_FALSE(alive(sup));
    CHECK_FALSE(alive(vmm));
    CHECK(sockets_in(sbx.sandbox_dir("hello")).empty());
    CHECK(status_json(sbx).value("state", "") == "stopped");
    const auto exec = sbx.run({"exec", "--name", "hello", "--", "true"}, {}, 30s);
    CHECK(exec.code == 255);
    CHECK(exec.err.find("not running") != std::string::npos);
  }
}

TEST_CASE("two concurrent sbx up of one sandbox boot it once, then a guest kernel panic is reported", "[e2e]") {
  Sbx sbx;
  // The lifecycle lock makes the second wait and then find the first one's sandbox up to date.
  Running first = sbx.start({"up", "--detach", Sbx::hello_project().string()});
  Running second = sbx.start({"up", "--detach", Sbx::hello_project().string()});
  const auto up = Sbx::finish(first, {}, 180s);
  const auto up2 = Sbx::finish(second, {}, 180s);
  INFO(up.err << "\n---\n" << up2.err);
  REQUIRE(up.code == 0);
  REQUIRE(up2.code == 0);
  const std::string plans = up.err + up2.err;
  CHECK(plans.find("': create") != std::string::npos);
  CHECK(plans.find("': nothing") != std::string::npos);
  CHECK(plans.find("booting") == plans.rfind("booting"));  // exactly one boot
  const auto before = status_json(sbx);
  const auto r = sbx.run({"exec", "--name", "hello", "--user", "root", "--", "sh", "-c", "echo c > /proc/sysrq-trigger"}, {}, 60s);
  CHECK(r.code == 255);
  CHECK(r.err.find("kernel panicked") != std::string::npos);
  CHECK(r.err.find("last console lines") != std::string::npos);
  const auto after = wait_state(sbx, "crashed", 30s);
  CHECK(after.value("state", "") == "crashed");
  CHECK(after.value("error", "").find("Kernel panic") != std::string::npos);
  CHECK_FALSE(alive(before.value("vmm_pid", 0L)));
  CHECK_FALSE(alive(before.value("supervisor_pid", 0L)));
  CHECK(sockets_in(sbx.sandbox_dir("hello")).empty());
  const auto status = sbx.run({"status", "--name", "hello"}, {}, 30s);
  CHECK(status.code == 1);
  CHECK(status.out.find("crashed") != std::string::npos);
}

TEST_CASE("a VMM killed with SIGKILL mid-exec is reported and leaves nothing behind", "[e2e]") {
  Sbx sbx;
  const auto up = sbx.run({"up", "--detach", Sbx::hello_project().string()}, {}, 180s);
  INFO(up.err);
  REQUIRE(up.code == 0);
  const auto before = status_json(sbx);
  const long vmm = before.value("vmm_pid", 0L);
  REQUIRE(alive(vmm));
  Running run = sbx.start({"exec", "--name", "hello", "--", "sh", "-c", "echo started; sleep 60"});
  std::string seen;
  REQUIRE(Sbx::wait_for_output(run, "started", seen, 60s));
  ::kill(static_cast<pid_t>(vmm), SIGKILL);
  const auto r = Sbx::finish(run, seen, 30s);
  CHECK_FALSE(r.timed_out);
  CHECK(r.code == 255);
  CHECK(r.err.find("killed by signal 9") != std::string::npos);
  const auto after = wait_state(sbx, "crashed", 30s);
  CHECK(after.value("error", "").find("killed by signal 9") != std::string::npos);
  CHECK_FALSE(alive(before.value("supervisor_pid", 0L)));
  CHECK(sockets_in(sbx.sandbox_dir("hello")).empty());
  // A new `sbx up` recovers.
  const auto again = sbx.run({"up", "--detach", Sbx::hello_project().string()}, {}, 180s);
  CHECK(again.code == 0);
  CHECK(again.err.find("create") != std::string::npos);
  CHECK(sbx.run({"exec", "--name", "hello", "--", "true"}, {}, 30s).code == 0);
}
