#include "guest/agent/pid1.h"

#include <cerrno>
#include <csignal>
#include <string>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/agent/boot.h"
#include "guest/agent/console.h"

namespace sbx::guest::agent {

bool read_signals(int signal_fd) {
  signalfd_siginfo si{};
  while (::read(signal_fd, &si, sizeof si) == sizeof si) {
    switch (si.ssi_signo) {
      case SIGCHLD:
        break;
      case SIGTERM:
      case SIGPWR:
      case SIGINT:  // Ctrl-Alt-Del
        say("signal " + std::to_string(si.ssi_signo) + " to PID 1: shutting down");
        return true;
      default:
        // Forward anything else to every process (not to ourselves).
        ::kill(-1, static_cast<int>(si.ssi_signo));
        break;
    }
  }
  return false;
}

void reap_children(const std::function<void(pid_t, int)>& on_exit) {
  while (true) {
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) return;
    on_exit(pid, st);
  }
}

void end_processes_and_power_off(bool reboot) {
  ::kill(-1, SIGTERM);
  // Every user process is our descendant (orphans re-parent to PID 1), so ECHILD means none is left.
  for (int i = 0; i < 100; ++i) {
    pid_t r;
    while ((r = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
    }
    if (r < 0 && errno == ECHILD) break;
    ::usleep(10000);
  }
  ::kill(-1, SIGKILL);
  power_off(reboot);
}

}  // namespace sbx::guest::agent
