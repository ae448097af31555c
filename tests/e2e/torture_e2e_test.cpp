// End to end (issue 14): kill -9 of any of a sandbox's processes (the supervisor, QEMU,
// virtiofsd, the egress proxy child) at a random moment, during boot, during an exec, or while
// idle. After every round: `sbx status` and `sbx ls` agree and tell the truth (a sandbox said to
// be ready answers an exec; one said to be down has no process left), `sbx down` leaves no
// process of it behind, its disk is fsck-clean, and the next `sbx up` recovers. Twenty bounded
// rounds in two cases; the seed is printed, and SBX_TORTURE_SEED replays one.
// Alone: build/tests/e2e/sandbox_e2e_test '[torture]' (about 3 minutes per case under TCG).
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "host_files.h"
#include "sbx_runner.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using sbx::e2e::RunResult;
using sbx::e2e::Sbx;

namespace {

constexpr const char* kName = "torture";
enum class Victim { supervisor, vmm, virtiofsd, egress };
enum class Moment { boot, exec, idle };

const char* victim_name(Victim v) {
  switch (v) {
    case Victim::supervisor: return "supervisor";
    case Victim::vmm: return "qemu";
    case Victim::virtiofsd: return "virtiofsd";
    case Victim::egress: return "egress child";
  }
  return "?";
}

const char* moment_name(Moment m) { return m == Moment::boot ? "boot" : m == Moment::exec ? "exec" : "idle"; }

unsigned seed_for(const char* which) {
  if (const char* s = std::getenv("SBX_TORTURE_SEED")) return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
  const unsigned seed = std::random_device{}();
  WARN("torture " << which << ": SBX_TORTURE_SEED=" << seed);
  return seed;
}

// A busybox project with a rw mount (so a virtiofsd runs) and a small disk.
fs::path make_project(const fs::path& dir) {
  fs::create_directories(dir / "share");
  std::ofstream(dir / "Sandboxfile") << "version = 1\nname = \"" << kName << "\"\n"
                                     << "[agent]\npreset = \"shell\"\ncommand = [\"/bin/true\"]\n"
                                     << "[resources]\nmemory = \"256MiB\"\ndisk = \"64MiB\"\n"
                                     << "[[mount]]\nsource = \"share\"\ntarget = \"/share\"\nmode = \"rw\"\n";
  return dir;
}

json state_file(const Sbx& sbx) {
  const auto j = json::parse(sbx::e2e::read_file(sbx.sandbox_dir(kName) / "state.json"), nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// state.json keeps the egress child under "egress".
long egress_pid(const json& st) {
  return st.contains("egress") && st["egress"].is_object() ? st["egress"].value("pid", 0L) : 0;
}

json run_json(const Sbx& sbx, const std::vector<std::string>& args) {
  const auto j = json::parse(sbx.run(args, {}, 30s).out, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// ppid and comm of every process, from /proc.
struct Proc {
  long ppid = 0;
  std::string comm;
};
std::map<long, Proc> processes() {
  std::map<long, Proc> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = sbx::e2e::read_file(e.path() / "stat");
    const auto open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    if (state == "Z") continue;  // exited, waiting to be reaped
    out[std::stol(name)] = {ppid, stat.substr(open + 1, close - open - 1)};
  }
  return out;
}

// `root` and every live process below it.
std::set<long> tree(long root) {
  std::set<long> out;
  if (root <= 0) return out;
  const auto all = processes();
  if (!all.count(root)) return out;
  out.insert(root);
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [pid, p] : all)
      if (!out.count(pid) && out.count(p.ppid)) grew = out.insert(pid).second;
  }
  return out;
}

long find_victim(const Sbx& sbx, Victim v) {
  const json st = state_file(sbx);
  const long sup = st.value("supervisor_pid", 0L);
  if (v == Victim::supervisor) return sbx::e2e::alive(sup) ? sup : 0;
  if (v == Victim::egress) {
    const long e = egress_pid(st);
    return sbx::e2e::alive(e) ? e : 0;
  }
  const auto all = processes();
  for (long pid : tree(sup)) {
    const std::string& comm = all.count(pid) ? all.at(pid).comm : std::string();
    if (v == Victim::vmm && comm.starts_with("qemu-system")) return pid;
    if (v == Victim::virtiofsd && comm.starts_with("virtiofsd")) return pid;
  }
  return 0;
}

// What `sbx status` and `sbx ls` say, checked against the processes. True once it holds.
bool tells_the_truth(const Sbx& sbx, std::string& said) {
  const json status = run_json(sbx, {"status", "--name", kName, "--json"});
  const std::string state = status.value("state", "");
  std::string listed;
  const json ls = run_json(sbx, {"ls", "--json"});
  if (ls.contains("sandboxes"))
    for (const auto& s : ls["sandboxes"])
      if (s.value("name", "") == kName) listed = s.value("status", "");
  said = "status " + state + ", ls " + listed;
  const long sup = state_file(sbx).value("supervisor_pid", 0L);
  if (state == "running") {
    if (listed != "running" || !sbx::e2e::alive(sup) || !sbx::e2e::alive(status.value("vmm_pid", 0L))) return false;
    const RunResult r = sbx.run({"exec", "--name", kName, "--", "true"}, {}, 60s);
    said += ", exec " + std::to_string(r.code);
    return r.code == 0;
  }
  if (state == "crashed" || state == "stopped")
    return listed == state && tree(sup).empty();
  return false;  // starting or stopping: not settled yet
}

void round(const Sbx& sbx, const fs::path& project, Moment moment, Victim victim, std::mt19937& rng) {
  INFO("round: kill -9 of the " << victim_name(victim) << " during " << moment_name(moment));
  std::set<long> seen;  // every process of the sandbox this round saw
  auto note_tree = [&] {
    for (long p : tree(state_file(sbx).value("supervisor_pid", 0L))) seen.insert(p);
    if (const long e = egress_pid(state_file(sbx)); sbx::e2e::alive(e)) seen.insert(e);
  };
  long killed = 0;
  if (moment == Moment::boot) {
    sbx::e2e::Running up = sbx.start({"up", "--detach", project.string()});
    // A random moment of the boot: the victim is killed as soon as it exists after the delay.
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 6000)(rng)));
    sbx::test::wait_until([&] { note_tree(); return (killed = find_victim(sbx, victim)) != 0; }, 120s, 10ms);
    if (killed) ::kill(static_cast<pid_t>(killed), SIGKILL);
    const RunResult r = Sbx::finish(up, {}, 300s);
    INFO("sbx up during the kill: " << r.code << "\n" << r.err);
    CHECK_FALSE(r.timed_out);  // it ends, whichever way
  } else {
    const RunResult up = sbx.run({"up", "--detach", project.string()}, {}, 300s);
    INFO("sbx up (recovering from the round before): " << up.err);
    REQUIRE(up.code == 0);
    note_tree();
    sbx::e2e::Running exec;
    std::string out;
    if (moment == Moment::exec) {
      exec = sbx.start({"exec", "--name", kName, "--", "sh", "-c", "echo started; while :; do echo x >> /share/log; usleep 20000; done"});
      REQUIRE(Sbx::wait_for_output(exec, "started", out, 60s));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1500)(rng)));
    // The egress child may still be starting (it is the supervisor's, after READY).
    sbx::test::wait_until([&] { return (killed = find_victim(sbx, victim)) != 0; }, 60s, 20ms);
    REQUIRE(killed != 0);
    ::kill(static_cast<pid_t>(killed), SIGKILL);
    if (moment == Moment::exec) {
      // With the supervisor or QEMU gone, the exec ends on its own and says so; with a helper
      // gone the sandbox may run on, and so may the exec (finish() stops it after the bound).
      const RunResult r = Sbx::finish(exec, out, 30s);
      INFO("the exec: " << r.code << " " << r.err);
      if (victim == Victim::supervisor || victim == Victim::vmm) {
        CHECK_FALSE(r.timed_out);
        CHECK(r.code != 0);
      }
    }
  }
  // Settled within a bound, and then true.
  std::string said;
  const bool truthful = sbx::test::wait_until([&] { return tells_the_truth(sbx, said); }, 90s, 250ms);
  INFO("after the kill: " << said);
  CHECK(truthful);
  // Down leaves nothing behind: every process of the sandbox this round saw is gone.
  note_tree();
  const RunResult down = sbx.run({"down", "--name", kName}, {}, 120s);
  INFO("sbx down: " << down.err);
  CHECK(down.code == 0);
  std::set<long> left;
  sbx::test::wait_until([&] {
    left.clear();
    for (long p : seen) if (sbx::e2e::alive(p)) left.insert(p);
    return left.empty();
  }, 10s, 50ms);
  CHECK(left.empty());
  CHECK(sbx::e2e::sockets_in(sbx.sandbox_dir(kName)).empty());
  // The disk: its journal replays and then it is clean (checked on a copy, as a later boot would).
  const fs::path disk = sbx.sandbox_dir(kName) / "disk.ext4";
  if (fs::exists(disk)) {
    const fs::path copy = sbx.state_dir() / "fsck.ext4";
    REQUIRE(sbx::e2e::host_sh("cp --sparse=always '" + disk.string() + "' '" + copy.string() + "'").first == 0);
    const auto replay = sbx::e2e::host_sh("e2fsck -y -E journal_only '" + copy.string() + "'");
    INFO("journal replay: " << replay.second);
    CHECK(replay.first <= 1);
    const auto fsck = sbx::e2e::host_sh("e2fsck -fn '" + copy.string() + "'");
    INFO("e2fsck -fn: " << fsck.second);
    CHECK(fsck.first == 0);
    fs::remove(copy);
  }
}

void rounds(const char* which, std::initializer_list<Moment> moments) {
  Sbx sbx;
  sbx::test::TempDir work("sbx-torture");  // outside the state directory, which no mount may hold
  const fs::path project = make_project(work.path() / "project");
  std::mt19937 rng(seed_for(which));
  const Victim victims[] = {Victim::supervisor, Victim::vmm, Victim::virtiofsd, Victim::egress};
  const int offset = std::uniform_int_distribution<int>(0, 3)(rng);
  for (int i = 0; i < 10; ++i) {
    const Moment m = *(moments.begin() + i % moments.size());
    round(sbx, project, m, victims[(i + offset) % 4], rng);
  }
  // The last word: sbx up recovers.
  const RunResult up = sbx.run({"up", "--detach", project.string()}, {}, 300s);
  INFO(up.err);
  CHECK(up.code == 0);
  CHECK(sbx.run({"exec", "--name", kName, "--", "true"}, {}, 60s).code == 0);
  sbx.run({"down", "--name", kName}, {}, 120s);
}

}  // namespace

TEST_CASE("kill -9 of any sandbox process during boot or while idle: sbx tells the truth and recovers", "[e2e][torture]") {
  rounds("boot/idle", {Moment::boot, Moment::idle});
}

TEST_CASE("kill -9 of any sandbox process during an exec or while idle: sbx tells the truth and recovers", "[e2e][torture]") {
  rounds("exec/idle", {Moment::exec, Moment::idle});
}
