#include "supervisor/supervisor.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/fd.h"
#include "secrets/harden.h"
#include "supervisor/client.h"
#include "supervisor/exit_reason.h"
#include "supervisor/poll_set.h"
#include "supervisor/sandbox_supervisor.h"

namespace sbx::supervisor {
using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

constexpr auto kShutdownGrace = seconds(10);      // guest SHUTDOWN, then ACPI power button
constexpr auto kShutdownKill = seconds(15);       // then SIGKILL
constexpr size_t kChannelBacklog = 1u << 20;      // stop reading egress sockets while this much waits for the guest
constexpr size_t kChannelOutLimit = 8u << 20;     // stop reading the guest while this much of our answers waits for it
constexpr auto kStateEvery = seconds(2);          // budget counters reach state.json at most this often
constexpr int kStaleConsoleLogs = 16;             // console.log.N removed at start: one boot per console log
constexpr size_t kCrashConsoleLines = 15;         // console lines kept in state.json for a crash report
constexpr size_t kPanicScanLines = 400;           // console lines searched for a kernel panic
constexpr size_t kVmmLogLines = 5;                // QEMU's own log lines quoted when it fails
constexpr int kFinalConsoleReads = 64;            // reads of QEMU's last console output after it exits
constexpr size_t kErrorFrameSlack = 64;           // an ERROR frame's text stays this far under kMaxPayload

std::int64_t unix_ms() {
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

// Append what can be written now; keep the rest. False when the peer is gone.
bool flush(int fd, std::string& out) {
  while (!out.empty()) {
    const ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  return true;
}

Result<void> Supervisor::start() {
  state_.name = launch_.name;
  state_.digest = launch_.digest;
  state_.supervisor_pid = ::getpid();
  state_.started_unix_ms = unix_ms();
  state_.phase = Phase::starting;

  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  budgets_ = budgets_for_this_process();  // before the egress child and QEMU inherit the fd limit
  router_.set_budget(budgets_.routes);
  guest_log_ = std::make_unique<RotatingLog>(paths_.guest_log(), budgets_.guest_log_bytes, budgets_.guest_log_keep);
  {
    std::error_code ec;  // one boot per console log (sbx up removed console.log itself)
    for (int i = 1; i <= kStaleConsoleLogs; ++i) fs::remove(paths_.console_log().string() + "." + std::to_string(i), ec);
  }
  console_log_ = std::make_unique<RotatingLog>(paths_.console_log(), budgets_.console_bytes, budgets_.console_keep);
  launch_.machine.console_socket = paths_.console_socket();
  sigfd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  // inject = "env" values pass through this process: no core file, no ptrace by the same user.
  if (!launch_.env_secrets.empty()) SBX_TRY_VOID(secrets::harden_process());

  listen_ = SBX_TRY(vmm::listen_unix(paths_.control()));
  set_nonblocking(listen_.get());
  // Forwarded ports before the VM: a port in use fails the start, with nothing booted.
  ports_.set_budget(budgets_.port_connections);
  SBX_TRY_VOID(ports_.listen());
  write_state_now();
  egress_.start();

  std::string warning;
  vmm_ = vmm::make_vmm(&warning);
  if (!warning.empty()) log_->warn("{}", warning);
  state_.accel = vmm_->accelerator();
  SBX_TRY_VOID(vmm_->start(launch_.machine));
  state_.vmm_pid = vmm_->pid();
  log_->info("VMM started (pid {})", vmm_->pid());
  // QEMU listens on its sockets before the guest runs: the console first, so no line is lost.
  console_ = SBX_TRY(vmm::connect_unix_retry(paths_.console_socket(), seconds(5)));
  set_nonblocking(console_.get());
  chan_ = SBX_TRY(vmm::connect_unix_retry(paths_.channel(), seconds(5)));
  set_nonblocking(chan_.get());
  write_state_now();
  return {};
}

void Supervisor::write_state_now() {
  state_.budgets = budget_report();
  next_state_write_ = steady_clock::now() + kStateEvery;
  if (auto r = write_state(paths_, state_); !r) {
    // Logged once; 'sbx up' hears it on the control socket (the log may be on the same full disk).
    if (state_write_error_.empty()) log_->error("cannot record the sandbox state: {}", r.error().message);
    state_write_error_ = "the sandbox supervisor cannot record its state: " + r.error().message;
    return;
  }
  if (!state_write_error_.empty()) log_->info("the sandbox state is recorded again");
  state_write_error_.clear();
}

BudgetReport Supervisor::budget_report() const {
  BudgetReport b = state_.budgets;  // keeps the refusal counts
  b.log_streams.used = router_.log_streams();
  b.log_streams.limit = budgets_.log_streams;
  b.routes.used = router_.size();
  b.routes.limit = budgets_.routes;
  b.proxy_streams.used = bridges_.size();
  b.proxy_streams.limit = budgets_.proxy_streams;
  b.port_connections.used = ports_.connections();
  b.port_connections.limit = budgets_.port_connections;
  b.port_connections.refused = ports_.refused();
  const auto fill = [](LogUse& u, const RotatingLog* l, std::uint64_t extra_dropped) {
    if (!l) return;
    u = LogUse{l->size(), l->max_bytes(), l->rotations(), l->dropped() + extra_dropped, l->keep()};
  };
  fill(b.guest_log, guest_log_.get(), log_overrun_bytes_);
  fill(b.console_log, console_log_.get(), 0);
  return b;
}

void Supervisor::begin_stop(const char* why) {
  if (stopping_) return;
  stopping_ = true;
  egress_.wind_down();
  stop_at_ = steady_clock::now();
  state_.phase = Phase::stopping;
  write_state_now();
  log_->info("stopping: {}", why);
  if (hello_ && chan_) {
    send_guest(proto::shutdown_frame(false));
  } else {
    powerdown_sent_ = true;
    (void)vmm_->request_poweroff();
  }
}

void Supervisor::finish(Phase phase, std::string error) {
  if (done_) return;
  done_ = true;
  if (vmm_) {
    if (auto ended = vmm_->try_reap(); !ended || !*ended) vmm_->kill();
  }
  state_.phase = phase;
  state_.vmm_pid = 0;
  if (phase == Phase::crashed) {
    state_.error = error;
    state_.console_tail = vmm::tail_file(paths_.console_log(), kCrashConsoleLines);
    log_->error("{}", text::escape_for_terminal(error));  // may quote the guest (a panic line, its error)
    exit_code_ = 1;
  } else {
    log_->info("stopped");
  }
  egress_.wind_down();
  egress_.cancel_restart();
  egress_.answer_waiters(phase == Phase::crashed ? "the sandbox crashed: " + error : "the sandbox stopped");
  // Tell every client why, best effort, then drop them.
  const std::string message = phase == Phase::crashed ? crash_message(error, state_.console_tail) : "";
  for (auto& [id, c] : conns_) {
    if (!message.empty()) proto::encode_to(c.out, proto::error_frame(message.substr(0, proto::kMaxPayload - kErrorFrameSlack)));
    const int fd = c.fd.get();
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    (void)flush(fd, c.out);
  }
  bridges_.clear();
  ports_.close();  // the host ports are free again as soon as the sandbox stops
  egress_.stop();
  remove_sockets(paths_);
  write_state_now();
  conns_.clear();
}

void Supervisor::loop() {
  const auto boot_deadline = t0_ + milliseconds(launch_.boot_timeout_ms);
  while (!done_) {
    PollSet fds;
    const auto signals = fds.add(sigfd_.get(), POLLIN);
    const auto listener = fds.add(listen_.get(), POLLIN);
    fds.add(vmm_->process_fd(), POLLIN);  // wakes the loop; try_reap() below says how it ended
    // The guest is read only while our answers to it drain: a guest that floods requests and
    // never reads the replies is slowed down, not buffered without bound.
    const short chan_in = chan_out_.size() < kChannelOutLimit ? POLLIN : 0;
    const auto channel = fds.add(chan_.get(), static_cast<short>(chan_in | (chan_out_.empty() ? 0 : POLLOUT)));
    const auto egress = fds.add(egress_.control_fd(), POLLIN);  // -1 (ignored by poll) without a proxy
    const auto console = fds.add(console_.get(), POLLIN);
    std::vector<std::pair<int, PollSet::Slot>> clients;  // conn id, its slot
    for (auto& [id, c] : conns_)
      clients.emplace_back(id, fds.add(c.fd.get(), static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT))));
    // Egress bridges: read their sockets only while the channel to the guest keeps up.
    std::vector<std::pair<std::uint32_t, PollSet::Slot>> bridges;  // guest stream id, its slot
    const bool room = chan_out_.size() < kChannelBacklog;
    for (auto& [sid, b] : bridges_)
      if (const short ev = b.events(room); ev != 0) bridges.emplace_back(sid, fds.add(b.fd(), ev));
    ports_.add_to_poll(fds, ready_ && !stopping_, room);
    int timeout_ms = 1000;
    if (vmm_->process_fd() < 0) timeout_ms = 100;
    if (const auto at = egress_.restart_at()) {
      const auto in = duration_cast<milliseconds>(*at - steady_clock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(in + 1, 0, timeout_ms));
    }
    fds.wait(timeout_ms);

    if (fds.has(signals, POLLIN)) {
      signalfd_siginfo si;
      while (::read(sigfd_.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGUSR1) egress_.reload(si.ssi_int);  // sbx up: only [egress] changed
        else if (si.ssi_signo == SIGUSR2) egress_.restart_requested();  // restart a dead egress proxy now
        else begin_stop("signal");
      }
    }
    if (fds.has(listener, POLLIN)) accept_clients();
    if (fds.has(console, kReadable)) read_console();
    if (auto ended = vmm_->try_reap(); ended && *ended) {
      for (int i = 0; i < kFinalConsoleReads && console_; ++i) read_console();  // QEMU's last console lines, for the panic check
      auto reason = classify_exit({**ended, stopping_, state_.vmm_pid, vmm::tail_file(paths_.console_log(), kPanicScanLines),
                                   vmm::tail_file(vmm_->log_file(), kVmmLogLines)});
      return finish(reason.phase, std::move(reason.error));
    }
    // The channel.
    if (fds.has(channel, kReadable)) {
      char buf[65536];
      const ssize_t n = ::read(chan_.get(), buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        // QEMU closes the channel only as it exits; wait for the process to tell us how.
        (void)vmm_->wait(seconds(3));
        if (auto ended = vmm_->try_reap(); !ended || !*ended) return finish(Phase::crashed, "the guest channel closed while the VMM still runs");
        continue;
      }
      if (n > 0) {
        chan_decoder_.feed(buf, static_cast<size_t>(n));
        while (!done_) {
          auto f = chan_decoder_.next();
          if (!f) break;
          on_guest_frame(std::move(*f));
        }
        if (done_) return;
        if (chan_decoder_.failed())
          return finish(Phase::crashed, "the guest sent a malformed frame: " + chan_decoder_.error());
      }
    }
    // Clients.
    for (const auto& [id, slot] : clients) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      if (fds.has(slot, kReadable)) {
        char buf[65536];
        const ssize_t n = ::read(it->second.fd.get(), buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          it->second.dead = true;
        } else if (n > 0) {
          it->second.decoder.feed(buf, static_cast<size_t>(n));
          while (!it->second.dead) {
            auto f = it->second.decoder.next();
            if (!f) break;
            on_client_frame(id, std::move(*f));
            if (done_) return;
          }
          if (it->second.decoder.failed()) {
            send_client(id, proto::error_frame(it->second.decoder.error()));
            it->second.dead = true;
          }
        }
      }
    }
    if (fds.has(egress, kReadable)) egress_.read_events();
    for (const auto& [sid, slot] : bridges) {
      auto b = bridges_.find(sid);
      if (b == bridges_.end() || !fds.revents(slot)) continue;
      b->second.on_events(fds.revents(slot), [this](const Frame& out) { send_guest(out); });
      if (b->second.finished()) bridges_.erase(b);
    }
    ports_.on_poll(fds, [this] { return router_.take_host_id(); }, [this](const Frame& out) { send_guest(out); });
    for (auto it = conns_.begin(); it != conns_.end();) {
      ClientConn& c = it->second;
      if (!flush(c.fd.get(), c.out)) c.dead = true;
      if (c.dead && !c.wants_stop) {
        on_client_gone(it->first);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
    if (!chan_out_.empty() && !flush(chan_.get(), chan_out_))
      log_->warn("cannot write to the guest channel");

    const auto now = steady_clock::now();
    egress_.on_timer(now);
    // Budget counters, and a state.json that could not be written, reach the disk on a timer.
    if (now >= next_state_write_ && (!state_write_error_.empty() || budget_report() != state_.budgets)) write_state_now();
    if (!ready_ && !stopping_ && now > boot_deadline)
      return finish(Phase::crashed, "the guest did not become ready within " +
                                        std::to_string(launch_.boot_timeout_ms / 1000) + " s");
    if (stopping_ && !powerdown_sent_ && now - stop_at_ > kShutdownGrace) {
      powerdown_sent_ = true;
      log_->warn("the guest ignored SHUTDOWN; pressing the ACPI power button");
      (void)vmm_->request_poweroff();
    }
    if (stopping_ && now - stop_at_ > kShutdownKill) {
      log_->warn("the guest did not power off; killing the VMM");
      vmm_->kill();
      return finish(Phase::stopped, "");
    }
  }
}

int Supervisor::run() {
  if (auto r = start(); !r) {
    finish(Phase::crashed, r.error().message);
    return 1;
  }
  loop();
  return exit_code_;
}

int run_supervisor(const fs::path& dir) {
  auto log = sbx::log::get("supervisor");
  auto text = read_small_file(dir / "launch.json");
  if (!text) {
    log->error("{}", text.error().message);
    return 1;
  }
  auto launch = launch_from_json(*text, (dir / "launch.json").string());
  if (!launch) {
    log->error("{}", launch.error().message);
    return 1;
  }
  Supervisor s(std::move(*launch), SandboxPaths{dir});
  return s.run();
}

}  // namespace sbx::supervisor