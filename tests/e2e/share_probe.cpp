// A static helper the busybox guest runs on a share (busybox has no setcap and no way to create a
// file with a set-id mode in one call): `share_probe DIR PREFIX` tries each way a guest could make
// a privileged file under DIR and prints one line per attempt, "name: ok" or "name: <errno text>".
// What counts is what the host finds afterwards; the lines are for the test's diagnostics.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace {

void report(const char* what, int rc) { std::printf("%s: %s\n", what, rc == 0 ? "ok" : std::strerror(errno)); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: share_probe DIR PREFIX\n");
    return 2;
  }
  const std::string base = std::string(argv[1]) + "/" + argv[2];
  // A new file created set-uid (and one set-gid) in one open(2).
  int fd = ::open((base + "created-suid").c_str(), O_CREAT | O_EXCL | O_WRONLY, 04755);
  report("create-suid", fd >= 0 ? 0 : -1);
  if (fd >= 0) ::close(fd);
  fd = ::open((base + "created-sgid").c_str(), O_CREAT | O_EXCL | O_WRONLY, 02755);
  report("create-sgid", fd >= 0 ? 0 : -1);
  if (fd >= 0) ::close(fd);
  // A set-gid directory and a set-uid fifo, created with the bits.
  report("mkdir-sgid", ::mkdir((base + "mkdir-sgid").c_str(), 02775));
  report("mknod-suid", ::mknod((base + "fifo-suid").c_str(), S_IFIFO | 04644, 0));
  // A file capability: VFS_CAP_REVISION_2 giving cap_setuid (bit 7), effective.
  const std::string plain = base + "plain";
  fd = ::open(plain.c_str(), O_CREAT | O_WRONLY, 0755);
  if (fd >= 0) ::close(fd);
  const unsigned int cap[5] = {0x02000001u, 1u << 7, 0, 0, 0};
  report("setcap", ::setxattr(plain.c_str(), "security.capability", cap, sizeof cap, 0));
  report("setxattr-user", ::setxattr(plain.c_str(), "user.sbx", "x", 1, 0));
  return 0;
}
