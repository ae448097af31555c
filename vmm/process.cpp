#include "vmm/process.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sbx::vmm {

std::string Exit::describe() const {
  if (signaled) return "killed by signal " + std::to_string(code) + " (" + strsignal(code) + ")";
  return "exited with status " + std::to_string(code);
}

Exit exit_from_status(int status) {
  if (WIFSIGNALED(status)) return {true, WTERMSIG(status)};
  return {false, WIFEXITED(status) ? WEXITSTATUS(status) : 1};
}

namespace {

// What a child reports on its error pipe before it gives up: errno and the failed step ("" = exec).
struct ChildReport {
  int err = 0;
  char what[120] = {};
};

[[noreturn]] void child_fail(int fd, const char* what, int err) {
  ChildReport r;
  r.err = err;
  if (what) {
    size_t i = 0;
    for (; what[i] && i + 1 < sizeof r.what; ++i) r.what[i] = what[i];
    r.what[i] = 0;
  }
  [[maybe_unused]] ssize_t w = ::write(fd, &r, sizeof r);
  ::_exit(127);
}

}  // namespace

Result<Child> spawn_child(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                          const std::filesystem::path& output_log) {
  SpawnOptions o;
  o.cwd = cwd;
  o.output_log = output_log;
  return spawn_child(argv, o);
}

Result<Child> spawn_child(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return fail(ErrorCode::invalid, "spawn_child: empty argv");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const int log_fd = ::open(options.output_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0)
    return fail(ErrorCode::io, "cannot open " + options.output_log.string() + ": " + std::strerror(errno));
  const pid_t parent = ::getpid();
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(log_fd);
    return fail(ErrorCode::io, std::string("pipe2: ") + std::strerror(errno));
  }
  const int npass = static_cast<int>(options.pass_fds.size());
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    return fail(ErrorCode::io, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    // Lift every descriptor we keep above the final layout first, so no dup2 clobbers another.
    constexpr int kHigh = 512;
    const int devnull = ::fcntl(::open("/dev/null", O_RDONLY | O_CLOEXEC), F_DUPFD_CLOEXEC, kHigh);
    const int log = ::fcntl(log_fd, F_DUPFD_CLOEXEC, kHigh);
    const int ep_high = ::fcntl(err_pipe[1], F_DUPFD_CLOEXEC, kHigh);
    int pass_high[64];
    if (npass > 64 || devnull < 0 || log < 0 || ep_high < 0) child_fail(err_pipe[1], "arranging descriptors", EMFILE);
    for (int i = 0; i < npass; ++i) pass_high[i] = ::fcntl(options.pass_fds[i], F_DUPFD_CLOEXEC, kHigh);
    ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    for (int i = 0; i < npass; ++i) ::dup2(pass_high[i], 3 + i);  // dup2 clears FD_CLOEXEC: inherited
    const int ep = 3 + npass;
    ::dup2(ep_high, ep);
    ::fcntl(ep, F_SETFD, FD_CLOEXEC);
    ::syscall(SYS_close_range, static_cast<unsigned>(ep + 1), ~0u, 0u);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::signal(s, SIG_DFL);
    ::setpgid(0, 0);  // a Ctrl-C on the supervisor's terminal must not hit the child directly
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) child_fail(ep, "chdir", errno);
    if (options.pre_exec) {
      const ChildStep step = options.pre_exec();
      if (step.what) child_fail(ep, step.what, step.err);
      // A change of credentials in the hook clears the parent-death signal: set it again.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
    }
    ::execvp(cargv[0], cargv.data());
    child_fail(ep, nullptr, errno);
  }
  ::close(log_fd);
  ::close(err_pipe[1]);
  ChildReport report;
  ssize_t n;
  do n = ::read(err_pipe[0], &report, sizeof report);
  while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == sizeof report) {
    ::waitpid(pid, nullptr, 0);
    report.what[sizeof report.what - 1] = 0;
    if (report.what[0])
      return fail(ErrorCode::runtime, "cannot start " + argv[0] + ": " + report.what + ": " + std::strerror(report.err));
    return fail(ErrorCode::not_found, "cannot run " + argv[0] + ": " + std::strerror(report.err), options.missing_hint);
  }
  Child c;
  c.pid = pid;
  c.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (c.pidfd >= 0) ::fcntl(c.pidfd, F_SETFD, FD_CLOEXEC);
  return c;
}

}  // namespace sbx::vmm
