#include "supervisor/supervisor.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <optional>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "common/escape.h"
#include "common/log.h"
#include "guest/protocol/frame.h"
#include "guest/protocol/messages.h"
#include "secrets/harden.h"
#include "supervisor/backoff.h"
#include "supervisor/bridge.h"
#include "supervisor/budget.h"
#include "supervisor/client.h"
#include "supervisor/egress.h"
#include "supervisor/env_secrets.h"
#include "supervisor/launch.h"
#include "supervisor/state.h"
#include "vmm/qemu_vmm.h"

namespace sbx::supervisor {
namespace proto = sbx::guest::protocol;
using proto::Frame;
using proto::FrameType;
using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxQueued = 8u << 20;          // a client that stops reading is dropped
constexpr auto kShutdownGrace = seconds(10);      // guest SHUTDOWN, then ACPI power button
constexpr auto kShutdownKill = seconds(15);       // then SIGKILL
constexpr size_t kChannelBacklog = 1u << 20;      // stop reading egress sockets while this much waits for the guest
constexpr size_t kChannelOutLimit = 8u << 20;     // stop reading the guest while this much of our answers waits for it
constexpr auto kStateEvery = seconds(2);          // budget counters reach state.json at most this often
constexpr int kLogRoute = -2;                     // Route.conn of a guest log stream
constexpr const char* kEgressRestartPing = "egress-restart";  // PING payload: restart the proxy now, answer once ready

std::int64_t unix_ms() {
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

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

// The panic line from the console tail, if the guest kernel panicked.
std::string panic_line(const std::string& tail) {
  const auto at = tail.find("Kernel panic");
  if (at == std::string::npos) return {};
  const auto end = tail.find('\n', at);
  return tail.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

struct Conn {
  vmm::Fd fd;
  proto::Decoder decoder;
  std::string out;
  std::optional<std::string> waiting_ready;  // PING payload to answer once READY
  bool wants_stop = false;
  bool dead = false;
};

struct Route {
  int conn = -1;                 // the client's id, or kLogRoute
  std::uint32_t client_stream = 0;
  bool host_closed = false;      // CLOSE sent to the guest
  std::uint32_t credit = 0;      // log streams: what the guest may still send (its window)
};

// A budget refusal is logged once per episode: again only after use fell below 3/4 of the limit.
struct RefusalLog {
  bool logged = false;
  bool first(std::size_t used, std::size_t limit) {
    if (used * 4 < limit * 3) logged = false;
    if (logged) return false;
    logged = true;
    return true;
  }
};

class Supervisor {
 public:
  Supervisor(Launch launch, SandboxPaths paths) : launch_(std::move(launch)), paths_(std::move(paths)) {}
  int run();

 private:
  Result<void> start();
  void loop();
  void on_guest_frame(Frame f);
  void on_client_frame(int id, Frame f);
  void on_client_gone(int id);
  void accept_clients();
  void send_guest(const Frame& f) { proto::encode_to(chan_out_, f); }
  void send_client(int id, const Frame& f);
  void begin_stop(const char* why);
  void finish(Phase phase, std::string error);
  void write_state_now();
  void start_egress();
  void on_egress_event(const EgressEvent& e);
  void open_proxy_stream(std::uint32_t stream, const proto::Open& open);
  void send_config();
  void reload_egress(long id);
  void restart_egress_now();
  void answer_egress_waiters(const std::string& error);
  void refuse_guest_open(std::uint32_t stream, std::uint64_t& refused, const std::string& reason, bool retry = false);
  bool guest_stream_id_free(std::uint32_t stream) const;
  void on_guest_log_frame(std::map<std::uint32_t, Route>::iterator it, const Frame& f);
  void read_console();
  BudgetReport budget_report() const;

  Launch launch_;
  SandboxPaths paths_;
  SandboxState state_;
  std::unique_ptr<vmm::QemuVmm> vmm_;
  vmm::Fd listen_, chan_, sigfd_;
  proto::Decoder chan_decoder_;
  std::string chan_out_;
  std::map<int, Conn> conns_;
  int next_conn_ = 1;
  std::map<std::uint32_t, Route> routes_;   // by guest stream id
  std::uint32_t next_stream_ = 1;
  bool hello_ = false, ready_ = false, stopping_ = false, done_ = false;
  steady_clock::time_point t0_ = steady_clock::now(), stop_at_{};
  bool powerdown_sent_ = false;
  int exit_code_ = 0;
  EgressProcess egress_;
  std::map<std::uint32_t, StreamBridge> bridges_;  // guest proxy streams, by guest stream id
  bool config_pending_ = false;                    // HELLO came; CONFIG waits for the proxy's CA
  std::string reload_digest_;                      // the hot reload in flight
  long reload_id_ = 0;                             // and the id sbx up asked it with
  std::shared_ptr<spdlog::logger> log_ = sbx::log::get("supervisor");
  // Budgets (budget.h) and what counts against them.
  Budgets budgets_;
  std::unique_ptr<RotatingLog> guest_log_, console_log_;
  vmm::Fd console_;                                // QEMU's serial console socket
  std::size_t log_streams_ = 0;
  std::uint64_t log_overrun_bytes_ = 0;            // log DATA past the stream's window, dropped
  RefusalLog log_refusal_, route_refusal_, proxy_refusal_;
  bool log_overrun_logged_ = false, log_write_logged_ = false, console_write_logged_ = false;
  steady_clock::time_point next_state_write_ = steady_clock::now();
  std::string state_write_error_;                  // why state.json could not be written ("" when it was)
  // Egress restarts (backoff.h).
  Backoff egress_backoff_;
  std::optional<steady_clock::time_point> egress_restart_at_;
  std::vector<int> egress_waiters_;                // clients that asked for a restart, answered once ready
};

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
  guest_log_ = std::make_unique<RotatingLog>(paths_.guest_log(), budgets_.guest_log_bytes, budgets_.guest_log_keep);
  {
    std::error_code ec;  // one boot per console log (sbx up removed console.log itself)
    for (int i = 1; i <= 16; ++i) fs::remove(paths_.console_log().string() + "." + std::to_string(i), ec);
  }
  console_log_ = std::make_unique<RotatingLog>(paths_.console_log(), budgets_.console_bytes, budgets_.console_keep);
  launch_.machine.console_socket = paths_.console_socket();
  sigfd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  // inject = "env" values pass through this process: no core file, no ptrace by the same user.
  if (!launch_.env_secrets.empty()) SBX_TRY_VOID(secrets::harden_process());

  listen_ = SBX_TRY(vmm::listen_unix(paths_.control()));
  set_nonblocking(listen_.get());
  write_state_now();
  start_egress();

  std::string warning;
  vmm_ = vmm::make_qemu_vmm(&warning);
  if (!warning.empty()) log_->warn("{}", warning);
  state_.accel = vmm::accel_name(vmm_->options().accel);
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

void Supervisor::start_egress() {
  if (!launch_.egress.enabled) return;
  state_.egress_digest = launch_.egress.digest;
  if (auto r = egress_.start(paths_.dir, paths_.supervisor_log()); !r) {
    // The sandbox still runs; it just has no way out. Status and every refused stream say why.
    log_->error("cannot start the egress proxy: {}", r.error().message);
    state_.egress_state = "failed";
    state_.egress_error = r.error().message;
    return;
  }
  state_.egress_pid = egress_.pid();
  state_.egress_state = "starting";
  log_->info("egress proxy started (pid {})", egress_.pid());
}

void Supervisor::restart_egress_now() {
  egress_restart_at_.reset();
  if (egress_.alive() || stopping_ || done_) return;
  ++state_.egress_restarts;
  state_.egress_restart_in_ms = 0;
  // The child reads the applied Sandboxfile sbx up wrote last: its digest is launch.json's now.
  if (auto text = read_small_file(paths_.launch()))
    if (auto l = launch_from_json(*text, paths_.launch().string()); l && !l->egress.digest.empty())
      launch_.egress.digest = l->egress.digest;
  log_->info("restarting the egress proxy (restart {})", state_.egress_restarts);
  state_.egress_error.clear();
  start_egress();
  if (!egress_.alive()) on_egress_event({EgressEvent::died, state_.egress_error});
  write_state_now();
}

void Supervisor::answer_egress_waiters(const std::string& error) {
  if (egress_waiters_.empty()) return;
  if (error.empty() && !state_write_error_.empty()) write_state_now();
  for (int id : egress_waiters_) {
    if (!error.empty()) send_client(id, proto::error_frame(error));
    else if (!state_write_error_.empty()) send_client(id, proto::error_frame(state_write_error_));
    else send_client(id, Frame{FrameType::pong, 0, 0, kEgressRestartPing});
  }
  egress_waiters_.clear();
}

void Supervisor::on_egress_event(const EgressEvent& e) {
  switch (e.kind) {
    case EgressEvent::none: return;
    case EgressEvent::ready:
      state_.egress_state = "running";
      state_.egress_error.clear();
      egress_backoff_.on_ready(steady_clock::now());
      log_->info("egress proxy ready");
      answer_egress_waiters("");
      break;
    case EgressEvent::failed:
      state_.egress_error = e.detail;
      log_->error("the egress proxy could not start: {}", e.detail);
      break;
    case EgressEvent::died:
      state_.egress_state = "failed";
      if (state_.egress_error.empty()) state_.egress_error = e.detail;
      else state_.egress_error += "; " + e.detail;
      state_.egress_pid = 0;
      if (!stopping_ && !done_) {
        const auto delay = egress_backoff_.on_death(steady_clock::now());
        egress_restart_at_ = steady_clock::now() + delay;
        state_.egress_state = "restarting";
        state_.egress_restart_in_ms = delay.count();
        log_->error("egress proxy died: {}; restarting it in {} ms (restarts so far: {}); guest connections are "
                    "refused until then", state_.egress_error, delay.count(), state_.egress_restarts);
      } else {
        log_->error("egress proxy died: {}", state_.egress_error);
      }
      answer_egress_waiters("the egress proxy did not start: " + state_.egress_error);
      if (!reload_digest_.empty()) {
        state_.egress_reload_digest = reload_digest_;
        state_.egress_reload_id = reload_id_;
        state_.egress_reload_error = "the egress proxy is not running: " + state_.egress_error;
        reload_digest_.clear();
      }
      break;
    case EgressEvent::reloaded:
      log_->info("egress rules reloaded");
      state_.egress_digest = state_.egress_reload_digest = reload_digest_;
      state_.egress_reload_id = reload_id_;
      state_.egress_reload_error.clear();
      reload_digest_.clear();
      break;
    case EgressEvent::reload_failed:
      log_->error("egress reload failed, the previous rules stay: {}", e.detail);
      state_.egress_reload_digest = reload_digest_;
      state_.egress_reload_id = reload_id_;
      state_.egress_reload_error = e.detail;
      reload_digest_.clear();
      break;
  }
  if (e.kind == EgressEvent::failed) answer_egress_waiters("the egress proxy could not start: " + e.detail);
  if (config_pending_ && (e.kind == EgressEvent::ready || !egress_.alive())) send_config();
  write_state_now();
}

void Supervisor::reload_egress(long id) {
  // sbx up rewrote the applied Sandboxfile and launch.json; take the new digest from the latter.
  std::string digest;
  if (auto text = read_small_file(paths_.launch()))
    if (auto l = launch_from_json(*text, paths_.launch().string())) digest = l->egress.digest;
  if (digest.empty()) {
    log_->warn("egress reload requested but launch.json has no egress section");
    return;
  }
  log_->info("egress reload requested");
  if (!egress_.request_reload()) {
    state_.egress_reload_digest = digest;
    state_.egress_reload_id = id;
    state_.egress_reload_error = egress_.unavailable_reason().empty() ? "cannot reach the egress proxy" : egress_.unavailable_reason();
    write_state_now();
    return;
  }
  reload_digest_ = digest;
  reload_id_ = id;
}

void Supervisor::send_config() {
  config_pending_ = false;
  proto::Config cfg = launch_.guest_config;
  if (launch_.egress.trust_ca) {
    auto pem = read_small_file(paths_.ca_certificate());
    if (pem && !pem->empty()) {
      cfg.ca_certificate = *pem;
    } else {
      const std::string w = "the guest does not trust the egress proxy's CA (" + paths_.ca_certificate().string() +
                            " is missing): HTTPS to hosts with header secrets will fail";
      log_->warn("{}", w);
      state_.warnings.push_back(w);
    }
  }
  std::vector<std::string> problems;
  Frame frame = config_with_env_secrets(std::move(cfg), launch_.env_secrets, problems);
  for (const auto& p : problems) {
    log_->warn("{}", p);
    state_.warnings.push_back(p);
  }
  send_guest(frame);
  wipe(frame.payload);  // (the encoded copy in chan_out_ is not wiped: THREAT_MODEL.md says so)
}

void Supervisor::open_proxy_stream(std::uint32_t stream, const proto::Open& open) {
  if (!launch_.egress.enabled) {
    send_guest(proto::open_fail_frame(stream, {"this sandbox was started without an egress proxy", {}}));
    return;
  }
  if (!guest_stream_id_free(stream)) {
    send_guest(proto::open_fail_frame(stream, {"stream id " + std::to_string(stream) + " is not a free guest (even) id", {}}));
    return;
  }
  if (bridges_.size() >= budgets_.proxy_streams) {
    if (proxy_refusal_.first(bridges_.size(), budgets_.proxy_streams))
      log_->warn("the guest holds {} egress connections, its budget: new ones are refused", bridges_.size());
    return refuse_guest_open(stream, state_.budgets.proxy_streams.refused,
                             "the sandbox has " + std::to_string(bridges_.size()) +
                                 " egress connections open, its limit: close some and try again", true);
  }
  if (egress_restart_at_) {
    const auto in = duration_cast<milliseconds>(*egress_restart_at_ - steady_clock::now()).count();
    send_guest(proto::open_fail_frame(stream, {"the sandbox's egress proxy is restarting (restart " +
                                                   std::to_string(state_.egress_restarts + 1) + " in " +
                                                   std::to_string(in < 0 ? 0 : in) + " ms); try again",
                                               {}, true}));
    return;
  }
  auto sock = egress_.open_stream({launch_.name, open.destination, open.client});
  if (!sock) {
    if (!egress_.alive() && state_.egress_state != "failed" && state_.egress_state != "restarting")
      on_egress_event({EgressEvent::died, egress_.unavailable_reason()});
    send_guest(proto::open_fail_frame(stream, {sock.error().message, {}, egress_restart_at_.has_value() || (egress_.alive() && !egress_.ready())}));
    return;
  }
  bridges_.emplace(stream, StreamBridge(stream, std::move(*sock)));
  send_guest(proto::open_ok_frame(stream, {}));
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
  b.log_streams.used = log_streams_;
  b.log_streams.limit = budgets_.log_streams;
  b.routes.used = routes_.size();
  b.routes.limit = budgets_.routes;
  b.proxy_streams.used = bridges_.size();
  b.proxy_streams.limit = budgets_.proxy_streams;
  const auto fill = [](LogUse& u, const RotatingLog* l, std::uint64_t extra_dropped) {
    if (!l) return;
    u = LogUse{l->size(), l->max_bytes(), l->rotations(), l->dropped() + extra_dropped, l->keep()};
  };
  fill(b.guest_log, guest_log_.get(), log_overrun_bytes_);
  fill(b.console_log, console_log_.get(), 0);
  return b;
}

void Supervisor::refuse_guest_open(std::uint32_t stream, std::uint64_t& refused, const std::string& reason, bool retry) {
  ++refused;
  send_guest(proto::open_fail_frame(stream, {reason, {}, retry}));
}

bool Supervisor::guest_stream_id_free(std::uint32_t stream) const {
  return stream != 0 && stream % 2 == 0 && !routes_.count(stream) && !bridges_.count(stream);
}

void Supervisor::read_console() {
  char buf[65536];
  for (int i = 0; i < 4 && console_; ++i) {  // at most 256 KiB a turn: the console cannot starve the rest
    const ssize_t n = ::read(console_.get(), buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      console_.reset();  // QEMU is exiting
      return;
    }
    if (!console_log_->append(std::string_view(buf, static_cast<size_t>(n))) && !console_write_logged_) {
      console_write_logged_ = true;
      log_->error("console output is dropped: {}", console_log_->error());
    }
  }
}

void Supervisor::send_client(int id, const Frame& f) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second.dead) return;
  proto::encode_to(it->second.out, f);
  if (it->second.out.size() > kMaxQueued) it->second.dead = true;
}

void Supervisor::accept_clients() {
  for (;;) {
    const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    Conn c;
    c.fd.reset(fd);
    conns_.emplace(next_conn_++, std::move(c));
  }
}

void Supervisor::on_client_gone(int id) {
  for (auto it = routes_.begin(); it != routes_.end();) {
    if (it->second.conn != id) {
      ++it;
      continue;
    }
    if (!it->second.host_closed && chan_)
      send_guest(proto::empty_frame(FrameType::close, it->first));  // the guest kills the process
    // Nobody reads it any more: forget it now, so a guest that never answers CLOSE cannot make
    // routes pile up (its late frames on the id are ignored, and host ids are never reused).
    it = routes_.erase(it);
  }
  egress_waiters_.erase(std::remove(egress_waiters_.begin(), egress_waiters_.end(), id), egress_waiters_.end());
}

void Supervisor::on_client_frame(int id, Frame f) {
  Conn& c = conns_.at(id);
  if (f.stream == 0) {
    switch (f.type) {
      case FrameType::ping:
        if (f.payload == kEgressRestartPing) {
          if (!launch_.egress.enabled) {
            send_client(id, proto::error_frame("this sandbox runs without an egress proxy"));
            return;
          }
          egress_waiters_.push_back(id);
          if (egress_.ready()) return answer_egress_waiters("");
          if (!egress_.alive()) {
            egress_backoff_.reset();
            restart_egress_now();
          }
          return;
        }
        if (!state_write_error_.empty()) write_state_now();  // space may have been freed since
        if (!ready_) c.waiting_ready = f.payload;
        else if (!state_write_error_.empty()) send_client(id, proto::error_frame(state_write_error_));
        else send_client(id, Frame{FrameType::pong, 0, 0, f.payload});
        return;
      case FrameType::shutdown:
        c.wants_stop = true;
        begin_stop("requested by a client");
        return;
      default:
        send_client(id, proto::error_frame("unexpected " + std::string(proto::type_name(f.type)) + " from a client"));
        c.dead = true;
        return;
    }
  }
  if (f.type == FrameType::open) {
    auto open = proto::parse_open(f.payload);
    if (!open || (open->kind != proto::OpenKind::exec && open->kind != proto::OpenKind::shell)) {
      send_client(id, proto::open_fail_frame(f.stream, {open ? "only exec and shell streams can be opened" : open.error().message, {}}));
      return;
    }
    if (!ready_ || stopping_) {
      send_client(id, proto::open_fail_frame(f.stream, {stopping_ ? "the sandbox is stopping" : "the sandbox is not ready yet", {}}));
      return;
    }
    for (const auto& [gid, r] : routes_)
      if (r.conn == id && r.client_stream == f.stream) {
        send_client(id, proto::error_frame("stream id already in use"));
        c.dead = true;
        return;
      }
    if (routes_.size() >= budgets_.routes) {
      ++state_.budgets.routes.refused;
      if (route_refusal_.first(routes_.size(), budgets_.routes))
        log_->warn("{} streams are open, the sandbox's budget: new exec and shell streams are refused", routes_.size());
      send_client(id, proto::open_fail_frame(f.stream, {"the sandbox has " + std::to_string(routes_.size()) +
                                                            " streams open, its limit: end some and try again", {}}));
      return;
    }
    const std::uint32_t gid = next_stream_;
    next_stream_ += 2;
    routes_[gid] = Route{id, f.stream, false};
    f.stream = gid;
    send_guest(f);
    return;
  }
  for (auto& [gid, r] : routes_) {
    if (r.conn != id || r.client_stream != f.stream) continue;
    switch (f.type) {
      case FrameType::data: case FrameType::window: case FrameType::eof:
      case FrameType::signal: case FrameType::resize:
        if (r.host_closed) return;
        f.stream = gid;
        send_guest(f);
        return;
      case FrameType::close: {
        if (!r.host_closed) send_guest(proto::empty_frame(FrameType::close, gid));
        const std::uint32_t done = gid;
        routes_.erase(done);  // the client is done with it (see on_client_gone)
        return;
      }
      default:
        send_client(id, proto::error_frame("unexpected " + std::string(proto::type_name(f.type)) + " from a client"));
        c.dead = true;
        return;
    }
  }
  // Frames on unknown ids race with CLOSE: ignored (PROTOCOL.md).
}

void Supervisor::on_guest_frame(Frame f) {
  switch (f.type) {
    case FrameType::hello: {
      auto hello = proto::parse_hello(f.payload);
      if (!hello) return finish(Phase::crashed, "the guest agent sent a malformed HELLO: " + hello.error().message);
      if (hello->protocol != proto::kProtocolVersion)
        return finish(Phase::crashed, "the guest agent speaks protocol " + std::to_string(hello->protocol) +
                                          ", this sbx speaks " + std::to_string(proto::kProtocolVersion));
      hello_ = true;
      state_.guest_uptime_ms = hello->boot.uptime_ms;
      log_->info("guest agent {} said hello (kernel {}, uptime {} ms)", text::escape_for_terminal(hello->agent),
                 text::escape_for_terminal(hello->kernel), hello->boot.uptime_ms);
      bridges_.clear();  // a new session: the guest dropped every stream
      // The CA the guest must trust exists once the proxy is ready; CONFIG waits for that.
      if (launch_.egress.trust_ca && egress_.alive() && !egress_.ready()) config_pending_ = true;
      else send_config();
      return;
    }
    case FrameType::ready: {
      auto ready = proto::parse_ready(f.payload);
      if (!ready) return finish(Phase::crashed, "the guest agent sent a malformed READY: " + ready.error().message);
      for (const auto& e : ready->errors) {
        log_->warn("guest setup: {}", text::escape_for_terminal(e));
        state_.warnings.push_back(e);
      }
      ready_ = true;
      state_.phase = Phase::ready;
      state_.ready_ms = duration_cast<milliseconds>(steady_clock::now() - t0_).count();
      write_state_now();
      log_->info("sandbox ready after {} ms", state_.ready_ms);
      for (auto& [id, c] : conns_)
        if (c.waiting_ready) {
          // Ready but unrecorded is not ready: 'sbx status' would disagree with 'sbx up'.
          if (!state_write_error_.empty()) send_client(id, proto::error_frame(state_write_error_));
          else send_client(id, Frame{FrameType::pong, 0, 0, *c.waiting_ready});
          c.waiting_ready.reset();
        }
      return;
    }
    case FrameType::ping: send_guest(Frame{FrameType::pong, 0, 0, f.payload}); return;
    case FrameType::pong: return;
    case FrameType::shutdown: log_->info("guest acknowledged shutdown"); return;
    case FrameType::error:
      return finish(Phase::crashed, "the guest agent reported a protocol error: " + proto::parse_error_message(f.payload));
    case FrameType::open: {
      // Guest-opened streams: proxy connections and log streams.
      auto open = proto::parse_open(f.payload);
      if (open && open->kind == proto::OpenKind::log) {
        if (!guest_stream_id_free(f.stream)) {
          send_guest(proto::open_fail_frame(f.stream, {"stream id " + std::to_string(f.stream) + " is not a free guest (even) id", {}}));
          return;
        }
        if (log_streams_ >= budgets_.log_streams || routes_.size() >= budgets_.routes) {
          if (log_refusal_.first(log_streams_, budgets_.log_streams))
            log_->warn("the guest holds {} log streams, its budget: new ones are refused", log_streams_);
          return refuse_guest_open(f.stream, state_.budgets.log_streams.refused,
                                   "the guest has " + std::to_string(log_streams_) + " log streams open, its limit");
        }
        routes_[f.stream] = Route{kLogRoute, 0, false, proto::kInitialWindow};
        ++log_streams_;
        send_guest(proto::open_ok_frame(f.stream, {}));
        return;
      }
      if (open && open->kind == proto::OpenKind::proxy) return open_proxy_stream(f.stream, *open);
      const std::string reason = open ? "only proxy and log streams may be opened by the guest" : open.error().message;
      send_guest(proto::open_fail_frame(f.stream, {reason, {}}));
      return;
    }
    default: break;
  }
  if (auto b = bridges_.find(f.stream); b != bridges_.end()) {
    b->second.on_guest_frame(f, [this](const Frame& out) { send_guest(out); });
    if (b->second.finished()) bridges_.erase(b);
    return;
  }
  auto it = routes_.find(f.stream);
  if (it == routes_.end()) return;
  Route& r = it->second;
  if (r.conn == kLogRoute) return on_guest_log_frame(it, f);
  const bool ends = f.type == FrameType::close || f.type == FrameType::open_fail;
  if (f.type == FrameType::close && !r.host_closed) send_guest(proto::empty_frame(FrameType::close, f.stream));
  if (r.conn >= 0) {
    f.stream = r.client_stream;
    send_client(r.conn, f);
  }
  if (ends) routes_.erase(it);
}

void Supervisor::on_guest_log_frame(std::map<std::uint32_t, Route>::iterator it, const Frame& f) {
  Route& r = it->second;
  const auto end_stream = [&] {
    if (!r.host_closed) send_guest(proto::empty_frame(FrameType::close, f.stream));
    routes_.erase(it);
    --log_streams_;
  };
  if (f.type == FrameType::close) return end_stream();
  if (f.type != FrameType::data || r.host_closed) return;
  if (f.payload.size() > r.credit) {
    // Past its window: the guest ignores flow control. Drop the bytes, end the stream.
    log_overrun_bytes_ += f.payload.size();
    if (!log_overrun_logged_) log_->warn("guest log stream {} sent past its window; its output is dropped and the stream closed", f.stream);
    log_overrun_logged_ = true;
    return end_stream();
  }
  r.credit -= static_cast<std::uint32_t>(f.payload.size());
  if (!guest_log_->append(f.payload) && !log_write_logged_) {
    log_write_logged_ = true;
    log_->error("guest log output is dropped: {}", guest_log_->error());
  }
  r.credit += static_cast<std::uint32_t>(f.payload.size());
  send_guest(proto::window_frame(f.stream, static_cast<std::uint32_t>(f.payload.size())));
}

void Supervisor::begin_stop(const char* why) {
  if (stopping_) return;
  stopping_ = true;
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
    if (!vmm_->try_reap()) vmm_->kill();
  }
  state_.phase = phase;
  state_.vmm_pid = 0;
  if (phase == Phase::crashed) {
    state_.error = error;
    state_.console_tail = vmm::tail_file(paths_.console_log(), 15);
    log_->error("{}", text::escape_for_terminal(error));  // may quote the guest (a panic line, its error)
    exit_code_ = 1;
  } else {
    log_->info("stopped");
  }
  egress_restart_at_.reset();
  answer_egress_waiters(phase == Phase::crashed ? "the sandbox crashed: " + error : "the sandbox stopped");
  // Tell every client why, best effort, then drop them.
  const std::string message = phase == Phase::crashed ? crash_message(error, state_.console_tail) : "";
  for (auto& [id, c] : conns_) {
    if (!message.empty()) proto::encode_to(c.out, proto::error_frame(message.substr(0, proto::kMaxPayload - 64)));
    const int fd = c.fd.get();
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    (void)flush(fd, c.out);
  }
  bridges_.clear();
  if (egress_.alive() || egress_.pid() > 0) {
    egress_.stop();
    state_.egress_state = "stopped";
    state_.egress_pid = 0;
  }
  remove_sockets(paths_);
  write_state_now();
  conns_.clear();
}

void Supervisor::loop() {
  const auto boot_deadline = t0_ + milliseconds(launch_.boot_timeout_ms);
  while (!done_) {
    std::vector<pollfd> fds;
    std::vector<int> ids;  // conn id per entry after the fixed ones
    fds.push_back({sigfd_.get(), POLLIN, 0});
    fds.push_back({listen_.get(), POLLIN, 0});
    fds.push_back({vmm_->process_fd(), POLLIN, 0});
    // The guest is read only while our answers to it drain: a guest that floods requests and
    // never reads the replies is slowed down, not buffered without bound.
    const short chan_in = chan_out_.size() < kChannelOutLimit ? POLLIN : 0;
    fds.push_back({chan_.get(), static_cast<short>(chan_in | (chan_out_.empty() ? 0 : POLLOUT)), 0});
    fds.push_back({egress_.control_fd(), POLLIN, 0});  // -1 (ignored by poll) without a proxy
    fds.push_back({console_.get(), POLLIN, 0});
    constexpr size_t kFixed = 6;
    for (auto& [id, c] : conns_) {
      fds.push_back({c.fd.get(), static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
      ids.push_back(id);
    }
    // Egress bridges: read their sockets only while the channel to the guest keeps up.
    std::vector<std::uint32_t> bridge_ids;
    const size_t first_bridge = fds.size();
    const bool room = chan_out_.size() < kChannelBacklog;
    for (auto& [sid, b] : bridges_)
      if (const short ev = b.events(room); ev != 0) {
        fds.push_back({b.fd(), ev, 0});
        bridge_ids.push_back(sid);
      }
    int timeout_ms = 1000;
    if (vmm_->process_fd() < 0) timeout_ms = 100;
    if (egress_restart_at_) {
      const auto in = duration_cast<milliseconds>(*egress_restart_at_ - steady_clock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(in + 1, 0, timeout_ms));
    }
    ::poll(fds.data(), fds.size(), timeout_ms);

    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sigfd_.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGUSR1) reload_egress(si.ssi_int);  // sbx up: only [egress] changed
        else if (si.ssi_signo == SIGUSR2) {  // restart a dead egress proxy now
          egress_backoff_.reset();
          if (launch_.egress.enabled) restart_egress_now();
        } else begin_stop("signal");
      }
    }
    if (fds[1].revents & POLLIN) accept_clients();
    if (fds[5].revents & (POLLIN | POLLHUP | POLLERR)) read_console();
    if (auto ended = vmm_->try_reap()) {
      for (int i = 0; i < 64 && console_; ++i) read_console();  // QEMU's last console lines, for the panic check
      const std::string tail = vmm::tail_file(paths_.console_log(), 400);
      if (stopping_ && !ended->signaled) return finish(Phase::stopped, "");
      if (const auto panic = panic_line(tail); !panic.empty())
        return finish(Phase::crashed, "the guest kernel panicked: " + panic);
      if (ended->signaled)
        return finish(Phase::crashed, "the VMM (QEMU, pid " + std::to_string(state_.vmm_pid) + ") was " + ended->describe());
      if (ended->code == 0) return finish(Phase::crashed, "the guest powered off on its own");
      return finish(Phase::crashed, "QEMU " + ended->describe() + ": " + vmm::tail_file(vmm_->qemu_log(), 5));
    }
    // The channel.
    if (fds[3].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      const ssize_t n = ::read(chan_.get(), buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        // QEMU closes the channel only as it exits; wait for the process to tell us how.
        (void)vmm_->wait(seconds(3));
        if (!vmm_->try_reap()) return finish(Phase::crashed, "the guest channel closed while the VMM still runs");
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
    for (size_t i = 0; i < ids.size(); ++i) {
      const int id = ids[i];
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      const short rev = fds[kFixed + i].revents;
      if (rev & (POLLIN | POLLHUP | POLLERR)) {
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
    if (fds[4].revents & (POLLIN | POLLHUP | POLLERR))
      for (int i = 0; i < 64 && egress_.control_fd() >= 0; ++i) {
        const EgressEvent e = egress_.read_event();
        if (e.kind == EgressEvent::none) break;
        on_egress_event(e);
      }
    for (size_t i = 0; i < bridge_ids.size(); ++i) {
      auto b = bridges_.find(bridge_ids[i]);
      if (b == bridges_.end() || !fds[first_bridge + i].revents) continue;
      b->second.on_events(fds[first_bridge + i].revents, [this](const Frame& out) { send_guest(out); });
      if (b->second.finished()) bridges_.erase(b);
    }
    for (auto it = conns_.begin(); it != conns_.end();) {
      Conn& c = it->second;
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
    if (egress_restart_at_ && now >= *egress_restart_at_) restart_egress_now();
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

}  // namespace

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
