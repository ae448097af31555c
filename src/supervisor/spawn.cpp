#include "supervisor/spawn.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <unistd.h>

#include "common/fd.h"
#include "common/process.h"
#include "supervisor/state.h"

namespace sbx::supervisor {

Result<pid_t> spawn_supervisor(const std::filesystem::path& dir) {
  char exe[4096];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return fail(ErrorCode::io, "cannot find the sbx binary (/proc/self/exe)");
  exe[len] = 0;
  // The lean sbx-supervisor next to sbx when it is there; else this binary's own __supervise.
  const std::filesystem::path lean = std::filesystem::path(exe).parent_path() / "sbx-supervisor";
  const std::string program = ::access(lean.c_str(), X_OK) == 0 ? lean.string() : std::string(exe);
  const std::string log = (dir / "supervisor.log").string();
  const std::string dir_s = dir.string();
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return fail(ErrorCode::io, "cannot open " + log + ": " + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return fail(ErrorCode::io, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setsid();
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    close_fds_from(3);
    if (::chdir(dir_s.c_str()) != 0) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const char* argv[] = {program.c_str(), kSuperviseCommand, dir_s.c_str(), nullptr};
    ::execv(program.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(log_fd);
  return pid;
}

bool supervisor_alive(long pid) {
  if (!process::alive(pid)) return false;
  std::ifstream cmd("/proc/" + std::to_string(pid) + "/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
  return cmdline.find(kSuperviseCommand) != std::string::npos;
}

}  // namespace sbx::supervisor
