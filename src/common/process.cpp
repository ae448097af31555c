#include "common/process.h"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <limits>
#include <string>
#include <sys/types.h>
#include <unistd.h>

namespace sbx::process {

bool alive(long pid) {
  if (pid <= 0 || pid > std::numeric_limits<pid_t>::max()) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  // /proc/PID/stat is "pid (comm) S ...": comm may hold ')' and spaces, so the state is the first
  // field after the last ')'.
  const std::string file = "/proc/" + std::to_string(pid) + "/stat";
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  std::string stat;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    stat.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (stat.empty()) return false;  // gone between kill() and open()
  const auto paren = stat.rfind(')');
  return !(paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z');
}

}  // namespace sbx::process
