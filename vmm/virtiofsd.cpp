#include "vmm/virtiofsd.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace sbx::vmm {
namespace fs = std::filesystem;
using namespace std::chrono;

fs::path virtiofsd_binary() {
  if (const char* v = std::getenv("SBX_VIRTIOFSD"); v && *v) return v;
  for (const char* p : {"/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "/usr/bin/virtiofsd"})
    if (::access(p, X_OK) == 0) return p;
  return "/usr/lib/qemu/virtiofsd";
}

Result<Child> start_virtiofsd(const Share& share, const fs::path& log) {
  std::error_code ec;
  if (!fs::is_directory(share.source, ec))
    return fail(ErrorCode::not_found, "shared directory " + share.source.string() + " does not exist",
                "create it or fix the mount's source");
  const fs::path bin = virtiofsd_binary();
  if (::access(bin.c_str(), X_OK) != 0)
    return fail(ErrorCode::not_found, "virtiofsd not found at " + bin.string(),
                "install qemu-system-x86 (Debian ships /usr/lib/qemu/virtiofsd) or set SBX_VIRTIOFSD");
  fs::remove(share.socket, ec);
  const std::string src = share.source.string();
  // virtiofsd runs in the socket's directory. It gets the absolute path when that fits in
  // sun_path (107 bytes): it names its pid file /run/virtiofsd/<path>.pid and refuses a second
  // instance with the same path, so relative names would collide between sandboxes.
  const std::string abs = fs::absolute(share.socket, ec).string();
  const std::string socket_arg = abs.size() < 100 ? abs : share.socket.filename().string();
  const std::string sock_dir = share.socket.parent_path().empty() ? "." : share.socket.parent_path().string();
  const std::vector<std::string> argv = {bin.string(), "--socket-path=" + socket_arg,
                                         "-o", "source=" + src, "-o", "cache=auto", "-o", "log_level=warn"};
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return fail(ErrorCode::io, "cannot open " + log.string() + ": " + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return fail(ErrorCode::io, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    ::setpgid(0, 0);
    if (share.read_only) {
      if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount(src.c_str(), src.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
          ::mount(nullptr, src.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
        const char msg[] = "sbx: cannot make the read-only bind mount for virtiofsd (needs root)\n";
        [[maybe_unused]] auto w = ::write(2, msg, sizeof msg - 1);
        ::_exit(126);
      }
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::chdir(sock_dir.c_str()) != 0) ::_exit(127);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  Child c{pid, static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))};
  const auto deadline = steady_clock::now() + seconds(5);
  while (!fs::exists(share.socket, ec)) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      if (c.pidfd >= 0) ::close(c.pidfd);
      return fail(ErrorCode::runtime, "virtiofsd for " + src + " " + exit_from_status(status).describe(),
                  "see " + log.string() + " (virtiofsd needs root)");
    }
    if (steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      if (c.pidfd >= 0) ::close(c.pidfd);
      return fail(ErrorCode::runtime, "virtiofsd for " + src + " did not create its socket", "see " + log.string());
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  return c;
}

}  // namespace sbx::vmm
