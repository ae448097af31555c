// End to end: the sandbox disk. What the guest writes outside its mounts (a file, something
// "installed" under /usr/local/bin) lands on the sandbox's own sparse ext4 disk and survives
// down/up; `sbx rm` removes it, `sbx up --fresh` starts over; a full guest disk is ENOSPC in the
// guest and nothing worse; kill -9 of QEMU while the guest writes and fsyncs leaves an fsck-clean
// disk with every fsynced line; `sbx ls` tells the truth throughout. Disks are 64 MiB here.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "sbx_runner.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using sbx::e2e::RunResult;
using sbx::e2e::Sbx;

namespace {

// A busybox project named `name` with a 64 MiB disk and no mounts.
fs::path make_project(const fs::path& dir, const std::string& name, const std::string& disk = "64MiB") {
  fs::create_directories(dir);
  std::ofstream(dir / "Sandboxfile") << "version = 1\nname = \"" << name << "\"\n"
                                     << "[agent]\npreset = \"shell\"\ncommand = [\"/bin/true\"]\n"
                                     << "[resources]\nmemory = \"256MiB\"\ndisk = \"" << disk << "\"\n";
  return dir;
}

RunResult exec_in(const Sbx& sbx, const std::string& name, const std::string& script, const std::string& user = "agent") {
  return sbx.run({"exec", "--name", name, "--user", user, "--", "sh", "-c", script}, {}, 120s);
}

json ls_json(const Sbx& sbx) {
  const auto r = sbx.run({"ls", "--json"}, {}, 30s);
  const auto j = json::parse(r.out, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

json ls_entry(const Sbx& sbx, const std::string& name) {
  const json j = ls_json(sbx);
  if (j.contains("sandboxes"))
    for (const auto& s : j["sandboxes"])
      if (s.value("name", "") == name) return s;
  return json::object();
}

// Run a host command (no shell), its exit status and output.
std::pair<int, std::string> host(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv) cmd += "'" + a + "' ";
  cmd += "2>&1";
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return {-1, ""};
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  const int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::uint64_t allocated(const fs::path& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_blocks) * 512 : 0;
}

}  // namespace

TEST_CASE("the sandbox disk keeps files and installed programs across down and up until rm or --fresh", "[e2e][disk]") {
  Sbx sbx;
  sbx::test::TempDir work("sbx-disk-e2e");
  const fs::path project = make_project(work.path() / "proj", "keep");
  const fs::path disk = sbx.sandbox_dir("keep") / "disk.ext4";

  auto up = sbx.run({"up", "--detach", project.string()}, {}, 240s);
  INFO("sbx up: " << up.err);
  REQUIRE(up.code == 0);
  REQUIRE(fs::is_regular_file(disk));
  CHECK(fs::file_size(disk) == 64ull << 20);
  CHECK((fs::status(disk).permissions() & fs::perms::all) == fs::perms(0600));

  // The guest's root is an overlay whose writable layer is the disk, not a tmpfs.
  const auto mounts = exec_in(sbx, "keep", "grep ' /run/rw ' /proc/mounts");
  CHECK(mounts.out.find("ext4") != std::string::npos);
  REQUIRE(exec_in(sbx, "keep", "echo kept-across-boots > /home/agent/note && sync").code == 0);
  REQUIRE(exec_in(sbx, "keep",
                  "mkdir -p /usr/local/bin && printf '#!/bin/sh\\necho tool-ran\\n' > /usr/local/bin/mytool && "
                  "chmod 755 /usr/local/bin/mytool && sync",
                  "root")
              .code == 0);

  auto down = sbx.run({"down", "--name", "keep"}, {}, 90s);
  REQUIRE(down.code == 0);
  // Stopped: ls still lists it with its disk; the guest left the file system clean.
  const json stopped = ls_entry(sbx, "keep");
  CHECK(stopped.value("status", "") == "stopped");
  CHECK(stopped.value("disk_size_bytes", 0ull) == 64ull << 20);
  CHECK(stopped.value("disk_used_bytes", 0ull) == allocated(disk));
  CHECK(stopped.value("project_dir", "") == project.string());
  const auto fsck = host({"e2fsck", "-fn", disk.string()});
  INFO(fsck.second);
  CHECK(fsck.first == 0);

  up = sbx.run({"up", "--detach", project.string()}, {}, 240s);
  INFO("second sbx up: " << up.err);
  REQUIRE(up.code == 0);
  CHECK(exec_in(sbx, "keep", "cat /home/agent/note").out == "kept-across-boots\n");
  CHECK(exec_in(sbx, "keep", "mytool").out == "tool-ran\n");

  // A larger disk keeps what is on it: the host grows the file, the guest its file system.
  make_project(project, "keep", "96MiB");
  up = sbx.run({"up", "--detach", "--json", project.string()}, {}, 240s);
  INFO("sbx up with a larger disk: " << up.err);
  REQUIRE(up.code == 0);
  CHECK(json::parse(up.out, nullptr, false)["disk"].value("action", "") == "grow");
  CHECK(fs::file_size(disk) == 96ull << 20);
  CHECK(exec_in(sbx, "keep", "cat /home/agent/note").out == "kept-across-boots\n");
  const auto df = exec_in(sbx, "keep", "df -k /run/rw | tail -1");
  std::istringstream df_line(df.out);
  std::string dev;
  std::uint64_t total_kib = 0;
  df_line >> dev >> total_kib;
  INFO(df.out);
  CHECK(total_kib > 80u * 1024);  // was under 64 MiB before the grow

  // --fresh starts over from the image: a running sandbox is stopped and its disk reset.
  auto fresh = sbx.run({"up", "--detach", "--fresh", "--json", project.string()}, {}, 240s);
  INFO("sbx up --fresh: " << fresh.err);
  REQUIRE(fresh.code == 0);
  const json fj = json::parse(fresh.out, nullptr, false);
  CHECK(fj.value("plan", "") == "recreate");
  CHECK(fj["disk"].value("action", "") == "reset");
  CHECK(exec_in(sbx, "keep", "test -e /home/agent/note || echo gone").out == "gone\n");
  CHECK(exec_in(sbx, "keep", "test -e /usr/local/bin/mytool || echo gone").out == "gone\n");

  // rm refuses a running sandbox, --force stops and removes it with its disk.
  auto refused = sbx.run({"rm", "keep"}, {}, 60s);
  CHECK(refused.code == 1);
  CHECK(refused.err.find("--force") != std::string::npos);
  CHECK(fs::exists(disk));
  auto rm = sbx.run({"rm", "--force", "--json", "keep"}, {}, 90s);
  INFO("sbx rm: " << rm.err << rm.out);
  REQUIRE(rm.code == 0);
  const json rj = json::parse(rm.out, nullptr, false);
  CHECK(rj.value("ok", false));
  CHECK(rj["sandboxes"][0].value("was", "") == "running");
  CHECK_FALSE(fs::exists(sbx.sandbox_dir("keep")));
  CHECK(ls_entry(sbx, "keep").empty());
  // A removed name is an error, not a silent success.
  CHECK(sbx.run({"rm", "keep"}, {}, 30s).code == 1);
}

TEST_CASE("a full sandbox disk is ENOSPC in the guest and the sandbox stays healthy", "[e2e][disk]") {
  Sbx sbx;
  sbx::test::TempDir work("sbx-disk-e2e");
  const fs::path project = make_project(work.path() / "proj", "full");
  auto up = sbx.run({"up", "--detach", project.string()}, {}, 240s);
  INFO("sbx up: " << up.err);
  REQUIRE(up.code == 0);
  const auto fill = exec_in(sbx, "full", "dd if=/dev/zero of=/home/agent/fill bs=1M count=200 2>&1; echo rc=$?");
  INFO(fill.out);
  CHECK(fill.out.find("No space left on device") != std::string::npos);
  CHECK(fill.out.find("rc=0") == std::string::npos);
  // The host file never grows past the disk's size, and the guest recovers by deleting.
  const fs::path disk = sbx.sandbox_dir("full") / "disk.ext4";
  CHECK(fs::file_size(disk) == 64ull << 20);
  CHECK(allocated(disk) <= 64ull << 20);
  CHECK(exec_in(sbx, "full", "rm /home/agent/fill && echo fine > /home/agent/after && cat /home/agent/after").out == "fine\n");
  const auto status = sbx.run({"status", "--name", "full", "--json"}, {}, 30s);
  CHECK(json::parse(status.out, nullptr, false).value("state", "") == "running");
}

TEST_CASE("kill -9 of QEMU while the guest fsyncs leaves a clean disk with every fsynced line", "[e2e][disk]") {
  Sbx sbx;
  sbx::test::TempDir work("sbx-disk-e2e");
  const fs::path project = make_project(work.path() / "proj", "crash");
  auto up = sbx.run({"up", "--detach", project.string()}, {}, 240s);
  INFO("sbx up: " << up.err);
  REQUIRE(up.code == 0);
  REQUIRE(exec_in(sbx, "crash", ": > /home/agent/log && sync").code == 0);
  // Each number is printed only after the line holding it was fsynced.
  auto writer = sbx.start({"exec", "--name", "crash", "--", "sh", "-c",
                           "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo line$i >> /home/agent/log; "
                           "sync /home/agent/log; echo synced$i; done"});
  std::string seen;
  REQUIRE(Sbx::wait_for_output(writer, "synced5\n", seen, 120s));
  const auto st = json::parse(sbx.run({"status", "--name", "crash", "--json"}, {}, 30s).out, nullptr, false);
  const long vmm = st.value("vmm_pid", 0L);
  REQUIRE(vmm > 0);
  REQUIRE(::kill(static_cast<pid_t>(vmm), SIGKILL) == 0);
  const auto rest = Sbx::finish(writer, seen, 60s);
  // The last number the guest confirmed before it died.
  long last = 0;
  std::istringstream lines(rest.out);
  for (std::string l; std::getline(lines, l);)
    if (l.starts_with("synced") && !lines.eof()) last = std::stol(l.substr(6));
  REQUIRE(last >= 5);

  // sbx ls tells the truth: the sandbox crashed.
  json entry;
  for (int i = 0; i < 100 && (entry = ls_entry(sbx, "crash")).value("status", "") != "crashed"; ++i) ::usleep(100000);
  CHECK(entry.value("status", "") == "crashed");

  // On the host, on a copy: replay the journal as a mount would, then a full read-only check.
  const fs::path disk = sbx.sandbox_dir("crash") / "disk.ext4", copy = work.path() / "copy.ext4";
  REQUIRE(host({"cp", "--sparse=always", disk.string(), copy.string()}).first == 0);
  const auto replay = host({"e2fsck", "-y", "-E", "journal_only", copy.string()});
  INFO("journal replay: " << replay.second);
  CHECK(replay.first <= 1);
  const auto fsck = host({"e2fsck", "-fn", copy.string()});
  INFO("e2fsck -fn: " << fsck.second);
  CHECK(fsck.first == 0);
  const auto log = host({"debugfs", "-R", "cat /upper/home/agent/log", copy.string()});
  for (long n = 1; n <= last; ++n) {
    INFO("line " << n << " of " << last);
    REQUIRE(log.second.find("line" + std::to_string(n) + "\n") != std::string::npos);
  }

  // And the sandbox comes back with the same lines.
  up = sbx.run({"up", "--detach", project.string()}, {}, 240s);
  INFO("sbx up after the crash: " << up.err);
  REQUIRE(up.code == 0);
  CHECK(exec_in(sbx, "crash", "grep -c '^line' /home/agent/log").out.size() > 0);
  CHECK(exec_in(sbx, "crash", "grep -qx line" + std::to_string(last) + " /home/agent/log && echo present").out == "present\n");
  CHECK(ls_entry(sbx, "crash").value("status", "") == "running");
}

TEST_CASE("a host without room for the disk is a clear error from sbx up, with nothing half-written", "[e2e][disk]") {
  Sbx sbx;
  sbx::test::TempDir work("sbx-disk-e2e");
  const fs::path project = make_project(work.path() / "proj", "nospace");
  // A 1 MiB tmpfs over the state directory, in a private mount namespace of this one run.
  const fs::path state = work.path() / "state";
  fs::create_directories(state);
  const std::string cmd = "unshare -m sh -c 'mount -t tmpfs -o size=1m sbxtest \"$0\" && SBX_STATE_DIR=\"$0\" "
                          "SBX_CACHE_DIR=\"$1\" \"$2\" up --detach \"$3\"; echo rc=$?; ls -A \"$0\"/sandboxes/nospace' '" +
                          state.string() + "' '" + std::string(SBX_E2E_CACHE_DIR) + "' '" + std::string(SBX_E2E_BINARY) +
                          "' '" + project.string() + "' 2>&1";
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  ::pclose(f);
  INFO(out);
  CHECK(out.find("rc=1") != std::string::npos);
  CHECK(out.find("is full") != std::string::npos);
  CHECK(out.find("hint:") != std::string::npos);
  // No disk, no temporary disk, no record: only the lock and what the lock's directory needs.
  CHECK(out.find("disk.ext4") == std::string::npos);
  CHECK(out.find("disk.json") == std::string::npos);
}
