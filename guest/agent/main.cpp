// sbx-guest: PID 1 of the sbx initramfs. Brings the machine up, switches into the root disk
// (staying PID 1), then serves the host over the sbx.ctl virtio-serial port.
#include <csignal>
#include <cstring>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "guest/agent/boot.h"
#include "guest/agent/console.h"
#include "guest/agent/docker.h"
#include "guest/agent/session.h"

namespace {

void ignore(int) {}

int block_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPWR, SIGUSR1, SIGUSR2, SIGQUIT})
    sigaddset(&set, sig), ::signal(sig, ignore);
  ::signal(SIGPIPE, SIG_IGN);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  return ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

}  // namespace

int main() {
  using namespace sbx::guest::agent;
  sbx::guest::protocol::BootTiming timing;
  timing.init_ms = uptime_ms();
  if (::getpid() != 1) {
    say("must run as PID 1 (the initramfs /init)");
    return 2;
  }
  setup_console();
  int sfd = block_signals();
  say("starting (PID 1)");
  mount_early();
  auto t0 = uptime_ms();
  load_modules();
  timing.modules_ms = uptime_ms() - t0;
  auto late_modules = open_late_modules();
  t0 = uptime_ms();
  if (switch_root()) {
    say("root disk mounted read-only under the writable overlay");
    mount_modules_disk();  // [docker]: the kernel's whole module tree for modprobe
  }
  timing.rootfs_ms = uptime_ms() - t0;
  loopback_up();
  set_hostname("sbx");
  std::string port = find_port(sbx::guest::protocol::kPortName, 5000);
  if (port.empty()) {
    say("no virtio-serial port named sbx.ctl; the host cannot reach this guest");
  } else {
    say("channel " + port + " ready; waiting for the host");
  }
  start_power_button_watch(std::move(late_modules));
  Session session(port, timing, sfd);
  session.run();
}
