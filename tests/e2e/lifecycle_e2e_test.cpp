// End to end: lifecycle jobs that race (issue 14). `sbx rm --force` while `sbx up` boots the
// sandbox waits for the boot (the lifecycle lock), then removes it: no sandbox process survives,
// no state is left and `sbx ls` no longer lists it. (Two concurrent `sbx up`: sandbox_e2e_test.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include "sbx_runner.h"
#include "support/wait.h"

namespace fs = std::filesystem;
using namespace sbx::e2e;
using namespace std::chrono_literals;

namespace {

// Every process whose command line or working directory names `dir` (supervisor, QEMU,
// virtiofsd and the egress child all do: they run in, or are given, the sandbox's state dir).
std::vector<std::string> processes_of(const fs::path& dir) {
  std::vector<std::string> found;
  const std::string needle = dir.string();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string pid = e.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    std::error_code e2;
    const std::string cwd = fs::read_symlink(e.path() / "cwd", e2).string();
    if ((cmd.find(needle) != std::string::npos || cwd.starts_with(needle)) && alive(std::stol(pid)))
      found.push_back(pid + " " + cmd.substr(0, 160));
  }
  return found;
}

}  // namespace

TEST_CASE("sbx rm --force during sbx up waits for the boot, then leaves no process, state or listing", "[e2e][lifecycle]") {
  Sbx sbx;
  const fs::path dir = sbx.sandbox_dir("hello");
  Running up = sbx.start({"up", "--detach", Sbx::hello_project().string()});
  // up holds the lifecycle lock from before the artifacts are built until the guest is ready.
  REQUIRE(sbx::test::wait_until([&] { return fs::exists(dir / "lifecycle.lock"); }, 120s, 20ms));
  const auto rm = sbx.run({"rm", "--force", "--json", "hello"}, {}, 400s);
  const auto upped = Sbx::finish(up, {}, 300s);
  INFO("up: " << upped.err << "\n--- rm: " << rm.out << rm.err);
  // One consistent story: up booted it (rm waited for that), then rm stopped and removed it.
  CHECK(upped.code == 0);
  CHECK(rm.code == 0);
  CHECK(rm.out.find("\"ok\":true") != std::string::npos);
  CHECK_FALSE(fs::exists(dir));
  std::vector<std::string> left;
  sbx::test::wait_until([&] { return (left = processes_of(sbx.state_dir())).empty(); }, 15s, 100ms);
  INFO("left running: " << (left.empty() ? std::string() : left.front()));
  CHECK(left.empty());
  const auto ls = sbx.run({"ls", "--json"}, {}, 30s);
  CHECK(ls.code == 0);
  CHECK(ls.out.find("\"hello\"") == std::string::npos);
  // And the name is free: a new up creates it from scratch.
  const auto again = sbx.run({"up", "--detach", Sbx::hello_project().string()}, {}, 240s);
  CHECK(again.code == 0);
  CHECK(again.err.find("': create") != std::string::npos);
  // hello has a [[mount]]: a hard open-file limit below 65536 is said once, with the fix.
  rlimit nofile{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &nofile) == 0);
  const auto said = [&](const std::string& s) {
    std::size_t n = 0;
    for (auto at = s.find("open-file hard limit"); at != std::string::npos; at = s.find("open-file hard limit", at + 1)) ++n;
    return n;
  };
  // Root raises the hard limit where it may (CAP_SYS_RESOURCE); in a container it may not.
  rlimit raised = nofile;
  raised.rlim_max = std::max<rlim_t>(nofile.rlim_max, 1048576);
  const bool can_raise = ::geteuid() == 0 && ::setrlimit(RLIMIT_NOFILE, &raised) == 0;
  if (!can_raise && nofile.rlim_max < 65536) {
    CHECK(said(again.err) == 1);
    CHECK(again.err.find("ulimit -Hn") != std::string::npos);
  } else {
    CHECK(said(again.err) == 0);
  }
  CHECK(sbx.run({"rm", "--force", "hello"}, {}, 120s).code == 0);
  sbx::test::wait_until([&] { return processes_of(sbx.state_dir()).empty(); }, 15s, 100ms);
  CHECK(processes_of(sbx.state_dir()).empty());
}
