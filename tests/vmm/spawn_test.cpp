// spawn_child: descriptors handed to the child, and failures before exec reported as errors.
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/process.h"
#include "vmm/nofile_limit.h"
#include "vmm/virtiofsd.h"

using namespace sbx::vmm;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

fs::path temp_log() {
  char tmpl[] = "/tmp/sbx-spawn-test-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ::close(fd);
  return tmpl;
}

}  // namespace

TEST_CASE("a child gets the passed descriptors as fd 3 and up, and nothing else", "[vmm][spawn]") {
  const fs::path log = temp_log();
  int p[2];
  REQUIRE(::pipe(p) == 0);
  SpawnOptions o;
  o.output_log = log;
  o.pass_fds = {p[1]};
  auto child = spawn_child({"/bin/sh", "-c", "echo through-fd3 >&3; ls /proc/self/fd | wc -l"}, o);
  REQUIRE(child.has_value());
  ::close(p[1]);
  char buf[64] = {};
  const ssize_t n = ::read(p[0], buf, sizeof buf - 1);
  ::close(p[0]);
  int status = 0;
  ::waitpid(child->pid, &status, 0);
  CHECK(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) == "through-fd3\n");
  // 0, 1, 2, 3 and the directory ls reads: no descriptor of this process leaked in.
  CHECK(read(log) == "5\n");
  fs::remove(log);
}

TEST_CASE("a failed pre-exec step is an error naming the step and errno", "[vmm][spawn]") {
  const fs::path log = temp_log();
  SpawnOptions o;
  o.output_log = log;
  o.pre_exec = [] { return ChildStep{"creating a user namespace", EPERM}; };
  auto child = spawn_child({"/bin/true"}, o);
  REQUIRE_FALSE(child.has_value());
  CHECK(child.error().message == "cannot start /bin/true: creating a user namespace: Operation not permitted");
  auto missing = spawn_child({"/no/such/program"}, SpawnOptions{.output_log = log});
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message.find("No such file") != std::string::npos);
  fs::remove(log);
}

TEST_CASE("the invoking user is the sudo caller only when running as root through sudo", "[vmm][virtiofsd]") {
  ::setenv("SUDO_UID", "4242", 1);
  ::setenv("SUDO_GID", "4343", 1);
  const HostUser u = invoking_user();
  if (::getuid() == 0) {
    CHECK(u.uid == 4242u);
    CHECK(u.gid == 4343u);
  } else {
    CHECK(u.uid == ::getuid());
  }
  ::setenv("SUDO_UID", "12x", 1);
  CHECK(invoking_user().uid == ::getuid());
  ::unsetenv("SUDO_UID");
  ::unsetenv("SUDO_GID");
  CHECK(invoking_user().uid == ::getuid());
}

TEST_CASE("virtiofsd serves the share from the passed socket without raising its own limits", "[vmm][virtiofsd]") {
  Share s;
  s.source = "/srv/project";
  const auto argv = virtiofsd_argv(s);
  CHECK(std::find(argv.begin(), argv.end(), "--fd=3") != argv.end());
  // The checked directory, bind-mounted at the end of a path rebuilt in virtiofsd's namespace.
  CHECK(std::find(argv.begin(), argv.end(), "source=" + served_path("/srv/project")) != argv.end());
  CHECK(served_path("/srv/project").ends_with("/srv/project"));
  // Withheld from it, so that it can neither keep set-id bits nor write file capabilities.
  CHECK(std::find(argv.begin(), argv.end(), "modcaps=-fsetid:-setfcap") != argv.end());
  // Exactly the limit the pre-exec hook sets (the hard limit), never 0 ("leave it") nor more.
  CHECK(std::find(argv.begin(), argv.end(), "--rlimit-nofile=" + std::to_string(virtiofsd_nofile().rlim_cur)) != argv.end());
  CHECK(std::find(argv.begin(), argv.end(), "cache=auto") != argv.end());
}

TEST_CASE("SBX_VIRTIOFSD_ARGS appends its space-separated words to virtiofsd's command line", "[vmm][virtiofsd]") {
  Share s;
  s.source = "/srv/project";
  const size_t plain = virtiofsd_argv(s).size();
  ::setenv("SBX_VIRTIOFSD_ARGS", "  -o cache=always  --thread-pool-size=0 ", 1);
  const auto argv = virtiofsd_argv(s);
  ::unsetenv("SBX_VIRTIOFSD_ARGS");
  REQUIRE(argv.size() == plain + 3);
  CHECK(argv[plain] == "-o");
  CHECK(argv[plain + 1] == "cache=always");
  CHECK(argv[plain + 2] == "--thread-pool-size=0");
}

TEST_CASE("virtiofsd gets the share's cache policy", "[vmm][virtiofsd]") {
  Share s;
  s.source = "/srv/project";
  s.cache = ShareCache::always;
  const auto argv = virtiofsd_argv(s);
  CHECK(std::find(argv.begin(), argv.end(), "cache=always") != argv.end());
  CHECK(std::find(argv.begin(), argv.end(), "cache=auto") == argv.end());
}

TEST_CASE("virtiofsd's open-file limit is the hard limit, raised by root, capped at what it asks for", "[vmm][virtiofsd]") {
  const auto limit = [](rlim_t soft, rlim_t hard, bool root) {
    rlimit r{};
    r.rlim_cur = soft;
    r.rlim_max = hard;
    return virtiofsd_nofile(r, root);
  };
  // This machine's case: soft 1024 (or 20000), hard 20000: both become 20000.
  CHECK(limit(1024, 20000, false).rlim_cur == 20000);
  CHECK(limit(1024, 20000, false).rlim_max == 20000);
  CHECK(limit(20000, 20000, false).rlim_cur == 20000);
  // Root may raise the hard limit to virtiofsd's 1048576.
  CHECK(limit(1024, 20000, true).rlim_cur == kVirtiofsdWantsNofile);
  CHECK(limit(1024, 20000, true).rlim_max == kVirtiofsdWantsNofile);
  // Never above what virtiofsd asks for, an unlimited hard limit included.
  CHECK(limit(1024, RLIM_INFINITY, false).rlim_cur == kVirtiofsdWantsNofile);
  CHECK(limit(1024, 4u << 20, false).rlim_cur == kVirtiofsdWantsNofile);
  // The warning names the limit and the fix below 65536, and is silent from there on.
  const auto low = nofile_warning(limit(1024, 20000, false));
  REQUIRE(low.has_value());
  CHECK(low->find("20000") != std::string::npos);
  CHECK(low->find("ulimit -Hn") != std::string::npos);
  CHECK(low->find("LimitNOFILE") != std::string::npos);
  CHECK_FALSE(nofile_warning(limit(1024, kNofileWarnBelow, false)).has_value());
  CHECK_FALSE(nofile_warning(limit(1024, 20000, true)).has_value());
  // The process's own: soft = hard, and what the command line passes.
  const rlimit own = virtiofsd_nofile();
  CHECK(own.rlim_cur == own.rlim_max);
  CHECK(own.rlim_cur <= kVirtiofsdWantsNofile);
}
