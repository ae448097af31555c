// End to end: hardening of `sbx up` and of what sbx shows. A request the host cannot give is
// refused before anything boots; an inject = "env" secret reaches the agent and every exec but no
// host file; text the guest writes (its console, exec errors) reaches terminals and logs escaped.
// One booted sandbox serves every section (the last one crashes it on purpose).
#include <catch2/catch.hpp>

#include <fstream>
#include <memory>
#include <sched.h>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "host_files.h"
#include "sbx_runner.h"

using namespace sbx::e2e;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kName = "defects-e2e";
constexpr const char* kEnvValue = "env-secret-Vq7Lr2Wd9";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Bytes a terminal acts on: ESC, BEL, CR (overwrites a line) and the C1 CSI in UTF-8.
bool has_terminal_controls(const std::string& text) {
  return text.find('\x1b') != std::string::npos || text.find('\x07') != std::string::npos ||
         text.find('\r') != std::string::npos || text.find("\xc2\x9b") != std::string::npos;
}

// Some line starts with `forged` (it would pass for one of sbx's own).
bool has_line_starting(const std::string& text, const std::string& forged) {
  for (const auto& l : lines_of(text))
    if (l.starts_with(forged)) return true;
  return false;
}

unsigned host_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return ::sched_getaffinity(0, sizeof set, &set) == 0 ? static_cast<unsigned>(CPU_COUNT(&set)) : 1;
}

std::uint64_t host_mem_total() {
  std::istringstream in(read_file("/proc/meminfo"));
  std::string key;
  std::uint64_t kib = 0;
  while (in >> key >> kib) {
    if (key == "MemTotal:") return kib * 1024;
    in.ignore(1 << 10, '\n');
  }
  return 0;
}

// A sandbox with an env secret, whose agent command prints what it sees.
struct Booted {
  Sbx sbx;
  fs::path project;
  RunResult set, up;
  Booted() {
    const fs::path work = sbx.state_dir() / "work";
    project = work / "project";
    fs::create_directories(project);
    fs::create_directories(work / "data");
    sbx.env.push_back("SBX_DATA_DIR=" + (work / "data").string());  // a private key-file store
    write_file(project / "Sandboxfile",
               std::string("version = 1\nname = \"") + kName + "\"\n"
               "[agent]\npreset = \"shell\"\ncommand = [\"sh\", \"-c\", \"echo agent-sees:$DEFECTS_TOKEN\"]\n"
               "[image]\nref = \"builtin\"\n"
               "[[secret]]\nname = \"DEFECTS_TOKEN\"\ninject = \"env\"\nenv = \"DEFECTS_TOKEN\"\n");
    set = sbx.run({"secret", "set", "DEFECTS_TOKEN"}, kEnvValue, 60s);
    if (set.code == 0) up = sbx.run({"up", project.string()}, {}, 180s);
  }
};

Booted& booted() {
  static std::unique_ptr<Booted> b = std::make_unique<Booted>();
  return *b;
}

}  // namespace

TEST_CASE("sbx up refuses more CPUs or memory than the host has, before building or booting anything", "[e2e][host]") {
  Sbx sbx;
  const unsigned cpus = host_cpus();
  const std::uint64_t gib = 1ull << 30, total = host_mem_total();
  REQUIRE(total > 0);
  if (cpus >= 256) {
    WARN("this host has 256 or more CPUs: no valid cpus value exceeds it; the CPU half is not checked");
    return;
  }
  const std::uint64_t too_much = (total / gib + 2) * gib;  // past the RAM whatever the rounding
  const fs::path project = sbx.state_dir() / "big";
  fs::create_directories(project);
  write_file(project / "Sandboxfile", "version = 1\nname = \"too-big\"\n[resources]\ncpus = " + std::to_string(cpus + 1) +
                                          "\nmemory = \"" + std::to_string(too_much / gib) + "GiB\"\n");

  const auto up = sbx.run({"up", "--detach", project.string()}, {}, 60s);
  INFO(up.err);
  CHECK(up.code == 1);
  CHECK(up.err.find("asks for more than it can have") != std::string::npos);
  CHECK(up.err.find("cpus = " + std::to_string(cpus + 1) + " is more than the CPUs sbx may use on this host (" +
                    std::to_string(cpus) + ")") != std::string::npos);
  CHECK(up.err.find("is more than this host's RAM") != std::string::npos);
  CHECK(up.err.find("set [resources] cpus = " + std::to_string(cpus) + " or less") != std::string::npos);
  CHECK(up.err.find("memory = \"" + std::to_string(total / gib) + "GiB\" or less") != std::string::npos);
  CHECK(up.err.find("booting") == std::string::npos);
  CHECK_FALSE(fs::exists(sbx.sandbox_dir("too-big")));  // nothing was built, locked or booted

  const auto plan = sbx.run({"plan", "--json", project.string()}, {}, 30s);
  REQUIRE(plan.code == 0);
  const auto j = json::parse(plan.out);
  CHECK(j["host"]["fits"] == false);
  CHECK(j["host"]["cpus"] == cpus);
  CHECK(j["host"]["problems"].size() == 2);
}

TEST_CASE("an env secret reaches the agent and every exec but no host file, and guest text is shown escaped", "[e2e][security]") {
  Booted& b = booted();
  const Sbx& sbx = b.sbx;
  INFO("secret set: " << b.set.err << "\nsbx up: " << b.up.err);
  REQUIRE(b.set.code == 0);
  REQUIRE(b.up.code == 0);
  const fs::path dir = sbx.sandbox_dir(kName);

  SECTION("the agent command and sbx exec see the value; launch.json, state.json and the logs do not") {
    CHECK(b.up.out.find(std::string("agent-sees:") + kEnvValue + "\n") != std::string::npos);
    const auto r = sbx.run({"exec", "--name", kName, "--", "sh", "-c", "echo $DEFECTS_TOKEN"}, {}, 60s);
    CHECK(r.code == 0);
    CHECK(r.out == std::string(kEnvValue) + "\n");
    const auto root = sbx.run({"exec", "--name", kName, "--user", "root", "--", "sh", "-c", "echo $DEFECTS_TOKEN"}, {}, 60s);
    CHECK(root.out == std::string(kEnvValue) + "\n");
    CHECK(b.up.err.find(kEnvValue) == std::string::npos);
    REQUIRE(fs::exists(dir / "launch.json"));
    CHECK(read_file(dir / "launch.json").find("DEFECTS_TOKEN") != std::string::npos);  // the binding, by name
    size_t files = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) {
        ++files;
        INFO(e.path());
        CHECK(read_file(e.path()).find(kEnvValue) == std::string::npos);
      }
    CHECK(files >= 3);  // launch.json, state.json, supervisor.log at least
  }

  SECTION("an exec error that echoes escape sequences and a newline is printed escaped") {
    const std::string evil = "/no/such\x1b]0;pwned\x07\nsbx: error: forged";
    const auto r = sbx.run({"exec", "--name", kName, "--", evil}, {}, 60s);
    INFO(r.err);
    CHECK(r.code == 127);
    CHECK(r.err.find("/no/such\\x1b]0;pwned\\x07\\nsbx: error: forged") != std::string::npos);
    CHECK_FALSE(has_terminal_controls(r.err));
    CHECK_FALSE(has_line_starting(r.err, "sbx: error: forged"));
  }

  SECTION("console text of a crashed guest is escaped in sbx status, sbx exec, sbx logs and supervisor.log") {
    // Guest root writes control sequences (C0 ones, which the console tail already turns into '?',
    // and the C1 CSI in UTF-8, which it keeps) and fake sbx lines to the console, then powers off.
    const std::string script =
        "printf 'Kernel panic \\033]0;pwned\\007 \\302\\2332J\\r\\nsbx: error: forged\\n\\302\\2331m\\n' > /dev/console;"
        " sleep 1; poweroff -f";
    const auto crash = sbx.run({"exec", "--name", kName, "--user", "root", "--", "sh", "-c", script}, {}, 90s);
    INFO("exec: " << crash.err);
    CHECK(crash.code == 255);
    json st;
    for (int i = 0; i < 100; ++i) {
      const auto s = sbx.run({"status", "--name", kName, "--json"}, {}, 30s);
      st = json::parse(s.out, nullptr, false);
      if (!st.is_discarded() && st.value("state", "") == "crashed") break;
      std::this_thread::sleep_for(100ms);
    }
    REQUIRE(st.value("state", "") == "crashed");
    REQUIRE(st.value("console_tail", "").find("sbx: error: forged") != std::string::npos);  // the raw tail, in JSON

    const auto status = sbx.run({"status", "--name", kName}, {}, 30s);
    INFO("status: " << status.out);
    CHECK(status.code == 1);
    CHECK(status.out.find("  error: the guest kernel panicked: Kernel panic ") != std::string::npos);
    bool error_escaped = false;
    for (const auto& l : lines_of(status.out))
      if (l.starts_with("  error: ")) error_escaped = l.ends_with("\\u009b2J");
    CHECK(error_escaped);
    CHECK(status.out.find("    | sbx: error: forged\n") != std::string::npos);
    CHECK(status.out.find("    | \\u009b1m\n") != std::string::npos);
    CHECK_FALSE(has_terminal_controls(status.out));
    CHECK_FALSE(has_line_starting(status.out, "sbx: error: forged"));

    CHECK_FALSE(has_terminal_controls(crash.err));  // the exec that was running when it crashed
    CHECK_FALSE(has_line_starting(crash.err, "sbx: error: forged"));
    const auto after = sbx.run({"exec", "--name", kName, "--", "true"}, {}, 30s);
    INFO("exec after: " << after.err);
    CHECK(after.code == 255);
    CHECK(after.err.find("  | sbx: error: forged\n") != std::string::npos);
    CHECK_FALSE(has_terminal_controls(after.err));
    CHECK_FALSE(has_line_starting(after.err, "sbx: error: forged"));

    const std::string log = read_file(dir / "supervisor.log");
    INFO("supervisor.log: " << log);
    CHECK(log.find("the guest kernel panicked: Kernel panic ") != std::string::npos);
    CHECK(log.find("\\u009b2J") != std::string::npos);
    CHECK_FALSE(has_terminal_controls(log));

    // sbx logs --console: the bytes as they are on a pipe, escaped on a terminal.
    const auto piped = sbx.run({"logs", "--console", "--name", kName}, {}, 30s);
    CHECK(piped.out.find("\x1b]0;pwned\x07") != std::string::npos);
    Running tty = sbx.start_pty({"logs", "--console", "--name", kName}, 24, 200);
    const auto shown = Sbx::finish(tty, {}, 30s);
    CHECK(shown.out.find("Kernel panic \\x1b]0;pwned\\x07") != std::string::npos);
    CHECK(shown.out.find('\x1b') == std::string::npos);
    CHECK(shown.out.find('\x07') == std::string::npos);
  }
}
