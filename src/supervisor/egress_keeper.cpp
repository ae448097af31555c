#include "supervisor/egress_keeper.h"

#include <spdlog/spdlog.h>

namespace sbx::supervisor {
using namespace std::chrono;

namespace {
constexpr int kEventsPerTurn = 64;  // control packets handled per loop turn: the child cannot starve the rest
}  // namespace

EgressKeeper::EgressKeeper(Launch& launch, const SandboxPaths& paths, SandboxState& state,
                           std::shared_ptr<spdlog::logger> log, Hooks hooks)
    : launch_(launch), paths_(paths), state_(state), log_(std::move(log)), hooks_(std::move(hooks)) {}

void EgressKeeper::start() {
  if (!launch_.egress.enabled) return;
  state_.egress_digest = launch_.egress.digest;
  if (auto r = child_.start(paths_.dir, paths_.supervisor_log()); !r) {
    // The sandbox still runs; it just has no way out. Status and every refused stream say why.
    log_->error("cannot start the egress proxy: {}", r.error().message);
    state_.egress_state = egress_state::kFailed;
    state_.egress_error = r.error().message;
    return;
  }
  state_.egress_pid = child_.pid();
  state_.egress_state = egress_state::kStarting;
  log_->info("egress proxy started (pid {})", child_.pid());
}

void EgressKeeper::restart_now() {
  restart_at_.reset();
  if (child_.alive() || winding_down_) return;
  ++state_.egress_restarts;
  state_.egress_restart_in_ms = 0;
  // The child reads the applied Sandboxfile sbx up wrote last: its digest is launch.json's now.
  if (auto text = read_small_file(paths_.launch()))
    if (auto l = launch_from_json(*text, paths_.launch().string()); l && !l->egress.digest.empty())
      launch_.egress.digest = l->egress.digest;
  log_->info("restarting the egress proxy (restart {})", state_.egress_restarts);
  state_.egress_error.clear();
  start();
  if (!child_.alive()) on_event({EgressEvent::died, state_.egress_error});
  hooks_.write_state();
}

void EgressKeeper::on_timer(Clock::time_point now) {
  if (restart_at_ && now >= *restart_at_) restart_now();
}

void EgressKeeper::restart_requested() {
  backoff_.reset();
  if (launch_.egress.enabled) restart_now();
}

void EgressKeeper::wait_until_ready(int client) {
  waiters_.push_back(client);
  if (child_.ready()) return answer_waiters("");
  if (!child_.alive()) {
    backoff_.reset();
    restart_now();
  }
}

void EgressKeeper::forget(int client) { std::erase(waiters_, client); }

void EgressKeeper::answer_waiters(const std::string& error) {
  if (waiters_.empty()) return;
  hooks_.answer(waiters_, error);
  waiters_.clear();
}

void EgressKeeper::read_events() {
  for (int i = 0; i < kEventsPerTurn && child_.control_fd() >= 0; ++i) {
    const EgressEvent e = child_.read_event();
    if (e.kind == EgressEvent::none) break;
    on_event(e);
  }
}

void EgressKeeper::on_event(const EgressEvent& e) {
  switch (e.kind) {
    case EgressEvent::none: return;
    case EgressEvent::ready:
      state_.egress_state = egress_state::kRunning;
      state_.egress_error.clear();
      backoff_.on_ready(steady_clock::now());
      log_->info("egress proxy ready");
      answer_waiters("");
      break;
    case EgressEvent::failed:
      state_.egress_error = e.detail;
      log_->error("the egress proxy could not start: {}", e.detail);
      break;
    case EgressEvent::died:
      state_.egress_state = egress_state::kFailed;
      if (state_.egress_error.empty()) state_.egress_error = e.detail;
      else state_.egress_error += "; " + e.detail;
      state_.egress_pid = 0;
      if (!winding_down_) {
        const auto delay = backoff_.on_death(steady_clock::now());
        restart_at_ = steady_clock::now() + delay;
        state_.egress_state = egress_state::kRestarting;
        state_.egress_restart_in_ms = delay.count();
        log_->error("egress proxy died: {}; restarting it in {} ms (restarts so far: {}); guest connections are "
                    "refused until then", state_.egress_error, delay.count(), state_.egress_restarts);
      } else {
        log_->error("egress proxy died: {}", state_.egress_error);
      }
      answer_waiters("the egress proxy did not start: " + state_.egress_error);
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
  if (e.kind == EgressEvent::failed) answer_waiters("the egress proxy could not start: " + e.detail);
  if (e.kind == EgressEvent::ready || !child_.alive()) hooks_.settled();
  hooks_.write_state();
}

void EgressKeeper::reload(long id) {
  // sbx up rewrote the applied Sandboxfile and launch.json; take the new digest from the latter.
  std::string digest;
  if (auto text = read_small_file(paths_.launch()))
    if (auto l = launch_from_json(*text, paths_.launch().string())) digest = l->egress.digest;
  if (digest.empty()) {
    log_->warn("egress reload requested but launch.json has no egress section");
    return;
  }
  log_->info("egress reload requested");
  if (!child_.request_reload()) {
    state_.egress_reload_digest = digest;
    state_.egress_reload_id = id;
    state_.egress_reload_error = child_.unavailable_reason().empty() ? "cannot reach the egress proxy" : child_.unavailable_reason();
    hooks_.write_state();
    return;
  }
  reload_digest_ = digest;
  reload_id_ = id;
}

std::expected<Fd, StreamRefusal> EgressKeeper::open_stream(const EgressRequest& request) {
  if (restart_at_) {
    const auto in = duration_cast<milliseconds>(*restart_at_ - steady_clock::now()).count();
    return std::unexpected(StreamRefusal{"the sandbox's egress proxy is restarting (restart " +
                                             std::to_string(state_.egress_restarts + 1) + " in " +
                                             std::to_string(in < 0 ? 0 : in) + " ms); try again",
                                         true});
  }
  auto sock = child_.open_stream(request);
  if (!sock) {
    if (!child_.alive() && state_.egress_state != egress_state::kFailed && state_.egress_state != egress_state::kRestarting)
      on_event({EgressEvent::died, child_.unavailable_reason()});
    return std::unexpected(StreamRefusal{sock.error().message, restart_at_.has_value() || (child_.alive() && !child_.ready())});
  }
  return std::move(*sock);
}

void EgressKeeper::stop() {
  if (child_.alive() || child_.pid() > 0) {
    child_.stop();
    state_.egress_state = egress_state::kStopped;
    state_.egress_pid = 0;
  }
}

}  // namespace sbx::supervisor
