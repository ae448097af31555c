// The seccomp filter sbx puts on virtiofsd, installed in a child process of the test: set-id modes
// and xattr writes fail with EPERM, ordinary modes work.
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vmm/share_seccomp.h"
#include "support/temp_dir.h"

using namespace sbx::vmm;
namespace fs = std::filesystem;

namespace {

using sbx::test::TempDir;

// Run `body` in a child under the filter; returns what it wrote (one line per unexpected result).
template <typename Body>
std::string under_filter(const std::vector<sock_filter>& program, Body body) {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    std::string out;
    if (const int err = install_seccomp_program(program); err != 0) out = std::string("install: ") + std::strerror(err) + "\n";
    else out = body();
    [[maybe_unused]] auto n = ::write(p[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  return out;
}

// "" when `rc` failed with `want` (0: succeeded), else a line saying what happened.
std::string expect(const char* what, long rc, int want) {
  const int got = rc < 0 ? errno : 0;
  if (got == want) return {};
  return std::string(what) + ": got " + (got ? std::strerror(got) : "success") + ", want " +
         (want ? std::strerror(want) : "success") + "\n";
}

}  // namespace

TEST_CASE("under virtiofsd's extra filter no file gets a set-uid or set-gid mode", "[vmm][virtiofsd][security]") {
  auto program = share_seccomp_program();
  REQUIRE(program.has_value());
  TempDir t;
  const std::string d = t.path().string();
  const std::string file = d + "/file";
  ::close(::open(file.c_str(), O_CREAT | O_WRONLY, 0644));
  const std::string out = under_filter(*program, [&] {
    std::string r;
    r += expect("chmod 4755", ::chmod(file.c_str(), 04755), EPERM);
    r += expect("chmod 2755", ::chmod(file.c_str(), 02755), EPERM);
    r += expect("chmod 0755", ::chmod(file.c_str(), 0755), 0);
    r += expect("chmod 1777 (sticky is no privilege)", ::chmod(file.c_str(), 01777), 0);
    const int fd = ::open(file.c_str(), O_RDONLY);
    r += expect("fchmod 4700", ::fchmod(fd, 04700), EPERM);
    r += expect("fchmod 0700", ::fchmod(fd, 0700), 0);
    ::close(fd);
    r += expect("fchmodat 6755", ::fchmodat(AT_FDCWD, file.c_str(), 06755, 0), EPERM);
    r += expect("open O_CREAT 4755", ::open((d + "/c1").c_str(), O_CREAT | O_WRONLY, 04755), EPERM);
    r += expect("openat O_CREAT 2755", ::openat(AT_FDCWD, (d + "/c2").c_str(), O_CREAT | O_WRONLY, 02755), EPERM);
    r += expect("creat 4755", ::creat((d + "/c3").c_str(), 04755), EPERM);
    r += expect("open O_CREAT 0644", ::open((d + "/c4").c_str(), O_CREAT | O_WRONLY, 0644) >= 0 ? 0 : -1, 0);
    r += expect("mkdir 2775", ::mkdir((d + "/d1").c_str(), 02775), EPERM);
    r += expect("mkdirat 4755", ::mkdirat(AT_FDCWD, (d + "/d2").c_str(), 04755), EPERM);
    r += expect("mkdir 0755", ::mkdir((d + "/d3").c_str(), 0755), 0);
    r += expect("mknod fifo 4644", ::mknod((d + "/f1").c_str(), S_IFIFO | 04644, 0), EPERM);
    r += expect("mknodat fifo 2644", ::mknodat(AT_FDCWD, (d + "/f2").c_str(), S_IFIFO | 02644, 0), EPERM);
    r += expect("mknod fifo 0644", ::mknod((d + "/f3").c_str(), S_IFIFO | 0644, 0), 0);
    const unsigned int cap[5] = {0x02000001u, 1u << 7, 0, 0, 0};
    r += expect("setxattr security.capability", ::setxattr(file.c_str(), "security.capability", cap, sizeof cap, 0), EPERM);
    r += expect("lsetxattr user.x", ::lsetxattr(file.c_str(), "user.x", "1", 1, 0), EPERM);
    r += expect("fsetxattr user.x", ::syscall(SYS_fsetxattr, 0, "user.x", "1", 1, 0), EPERM);
    r += expect("openat2 (mode not visible to seccomp)", ::syscall(SYS_openat2, AT_FDCWD, file.c_str(), nullptr, 0), ENOSYS);
    return r;
  });
  CHECK(out == "");
  struct stat st{};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & (S_ISUID | S_ISGID)) == 0);
  for (const char* gone : {"c1", "c2", "c3", "d1", "d2", "f1", "f2"}) CHECK_FALSE(fs::exists(t.path() / gone));
  for (const char* made : {"c4", "d3", "f3"}) CHECK(fs::exists(t.path() / made));
}
