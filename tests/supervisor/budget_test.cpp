#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/mount.h>
#include <unistd.h>

#include "supervisor/backoff.h"
#include "supervisor/budget.h"
#include "supervisor/state.h"
#include "support/temp_dir.h"

using namespace sbx::supervisor;
namespace fs = std::filesystem;
using namespace std::chrono;

namespace {
using sbx::test::TempDir;

std::uint64_t bytes_on_disk(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) total += fs::file_size(e.path());
  return total;
}
}  // namespace

TEST_CASE("a rotating log keeps at most keep+1 files of max bytes whatever is written", "[supervisor][budget]") {
  TempDir d;
  RotatingLog log(d.path() / "guest.log", 1000, 2);
  const std::string line(99, 'x');
  for (int i = 0; i < 500; ++i) REQUIRE(log.append(line + "\n"));
  CHECK(log.total() == 500 * 100);
  CHECK(log.rotations() >= 45);
  CHECK(bytes_on_disk(d.path()) <= 3 * 1000);
  CHECK(fs::exists(d.path() / "guest.log.1"));
  CHECK(fs::exists(d.path() / "guest.log.2"));
  CHECK_FALSE(fs::exists(d.path() / "guest.log.3"));
  // Whole lines stay whole: every file holds only complete lines.
  std::ifstream in(d.path() / "guest.log.1");
  std::string l;
  while (std::getline(in, l)) CHECK(l == line);
}

TEST_CASE("a rotating log splits a write larger than one file and still stays within its cap", "[supervisor][budget]") {
  TempDir d;
  RotatingLog log(d.path() / "console.log", 4096, 1);
  REQUIRE(log.append(std::string(100000, 'a')));
  CHECK(log.total() == 100000);
  CHECK(bytes_on_disk(d.path()) <= 2 * 4096);
}

TEST_CASE("a rotating log counts an existing file against its cap", "[supervisor][budget]") {
  TempDir d;
  { std::ofstream(d.path() / "guest.log") << std::string(900, 'o'); }
  RotatingLog log(d.path() / "guest.log", 1000, 1);
  CHECK(log.size() == 900);
  REQUIRE(log.append(std::string(200, 'n')));
  CHECK(fs::file_size(d.path() / "guest.log.1") == 900);
  CHECK(fs::file_size(d.path() / "guest.log") == 200);
}

TEST_CASE("a rotating log that cannot write says why and counts the dropped bytes", "[supervisor][budget]") {
  TempDir d;
  RotatingLog log(d.path() / "missing-dir" / "guest.log", 1000, 1);
  CHECK_FALSE(log.append("hello"));
  CHECK(log.dropped() == 5);
  CHECK(log.error().find("missing-dir") != std::string::npos);
}

TEST_CASE("the proxy stream budget leaves room for the supervisor's own fds", "[supervisor][budget]") {
  CHECK(proxy_stream_budget(1024) == 1024 - kReservedFds);
  CHECK(proxy_stream_budget(65536) == 4096);
  CHECK(proxy_stream_budget(100) == 16);
  const Budgets b = budgets_for_this_process();
  CHECK(b.proxy_streams >= 16);
  CHECK(b.proxy_streams <= 4096);
}

TEST_CASE("restart delays double from 0.2 s to 10 s and start over after a healthy run", "[supervisor][budget]") {
  Backoff b;
  auto t = steady_clock::now();
  std::vector<long> delays;
  for (int i = 0; i < 8; ++i) delays.push_back(b.on_death(t).count());
  CHECK(delays == std::vector<long>{200, 400, 800, 1600, 3200, 6400, 10000, 10000});
  b.on_ready(t);
  CHECK(b.on_death(t + seconds(5)).count() == 10000);  // died soon after: no reset
  b.on_ready(t);
  CHECK(b.on_death(t + seconds(31)).count() == 200);   // healthy for 30 s: back to the start
  b.on_death(t);
  b.reset();
  CHECK(b.on_death(t).count() == 200);
}

TEST_CASE("state.json round-trips the budgets and the egress restart count", "[supervisor][budget]") {
  TempDir d;
  SandboxState s;
  s.name = "demo";
  s.egress_state = "restarting";
  s.egress_restarts = 3;
  s.egress_restart_in_ms = 800;
  s.budgets.routes = {5, 1024, 2};
  s.budgets.log_streams = {64, 64, 7};
  s.budgets.proxy_streams = {10, 768, 0};
  s.budgets.guest_log = {123, 16u << 20, 4, 9, 3};
  s.budgets.console_log = {77, 8u << 20, 1, 0, 2};
  REQUIRE(write_state({d.path()}, s));
  auto back = read_state({d.path()});
  REQUIRE(back);
  CHECK(back->egress_restarts == 3);
  CHECK(back->egress_restart_in_ms == 800);
  CHECK(back->budgets == s.budgets);
}

TEST_CASE("a sandbox whose supervisor is gone is crashed for status and down alike", "[supervisor][budget]") {
  SandboxState s;
  s.phase = Phase::ready;
  s.supervisor_pid = 999999999;  // no such process
  const SandboxState e = effective_state(s);
  CHECK(e.phase == Phase::crashed);
  CHECK(e.error.find("supervisor") != std::string::npos);
  s.phase = Phase::stopped;
  CHECK(effective_state(s).phase == Phase::stopped);
}

TEST_CASE("a supervisor killed after the user asked it to stop reads stopped, and a crash stays a crash", "[supervisor][budget]") {
  TempDir d;
  const SandboxPaths paths{d.path()};
  SandboxState s;
  s.name = "demo";
  s.phase = Phase::ready;
  s.supervisor_pid = 999999999;  // gone: SIGKILLed before it recorded "stopped" itself
  s.vmm_pid = 999999998;
  REQUIRE(write_state(paths, s));
  // No request: a crash.
  auto read = read_state(paths);
  REQUIRE(read);
  CHECK_FALSE(read->stop_requested);
  CHECK(effective_state(*read).phase == Phase::crashed);
  // A request for another (an earlier) supervisor does not count.
  REQUIRE(write_stop_request(paths, 12345));
  CHECK(effective_state(*read_state(paths)).phase == Phase::crashed);
  // A request for this one: stopped, with no VMM left to wait for.
  REQUIRE(write_stop_request(paths, s.supervisor_pid));
  read = read_state(paths);
  REQUIRE(read);
  CHECK(read->stop_requested);
  const SandboxState e = effective_state(*read);
  CHECK(e.phase == Phase::stopped);
  CHECK(e.vmm_pid == 0);
  CHECK(e.error.empty());
  // state.json itself is untouched (the supervisor is its only writer) and the marker is not in it.
  CHECK(read_state(paths)->phase == Phase::ready);
  std::ifstream f(paths.state());
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(text.find("stop") == std::string::npos);
  clear_stop_request(paths);
  CHECK(effective_state(*read_state(paths)).phase == Phase::crashed);
}

TEST_CASE("writing state.json on a full file system is an error that names the file", "[supervisor][budget]") {
  if (::geteuid() != 0) {
    WARN("needs root to mount a small tmpfs; skipped");
    return;
  }
  TempDir d;
  REQUIRE(::mount("tmpfs", d.path().c_str(), "tmpfs", 0, "size=64k") == 0);
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{d.path()};
  {
    std::ofstream fill(d.path() / "fill");
    const std::string block(4096, 'f');
    for (int i = 0; i < 64 && fill; ++i) fill << block;  // 256 KiB into 64 KiB: full
  }
  SandboxState s;
  s.name = "demo";
  auto r = write_state({d.path()}, s);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("state.json") != std::string::npos);
  CHECK(r.error().message.find("No space left") != std::string::npos);
  CHECK_FALSE(fs::exists(d.path() / "state.json"));
}
