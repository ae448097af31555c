#include "supervisor/state.h"

#include <csignal>
#include <cerrno>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/paths.h"
#include "supervisor/launch.h"
#include "supervisor/spawn.h"

namespace sbx::supervisor {
using nlohmann::json;

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::starting: return "starting";
    case Phase::ready: return "running";
    case Phase::stopping: return "stopping";
    case Phase::stopped: return "stopped";
    case Phase::crashed: return "crashed";
  }
  return "unknown";
}

namespace {

json use_json(const BudgetUse& u) { return {{"used", u.used}, {"limit", u.limit}, {"refused", u.refused}}; }
json log_json(const LogUse& l) {
  return {{"bytes", l.bytes}, {"limit", l.limit}, {"keep", l.keep}, {"rotations", l.rotations}, {"dropped", l.dropped}};
}
BudgetUse use_from(const json& j) {
  BudgetUse u;
  if (!j.is_object()) return u;
  u.used = j.value("used", std::uint64_t{0});
  u.limit = j.value("limit", std::uint64_t{0});
  u.refused = j.value("refused", std::uint64_t{0});
  return u;
}
LogUse log_from(const json& j) {
  LogUse l;
  if (!j.is_object()) return l;
  l.bytes = j.value("bytes", std::uint64_t{0});
  l.limit = j.value("limit", std::uint64_t{0});
  l.keep = j.value("keep", 0);
  l.rotations = j.value("rotations", std::uint64_t{0});
  l.dropped = j.value("dropped", std::uint64_t{0});
  return l;
}

}  // namespace

json budgets_to_json(const BudgetReport& b) {
  return {{"log_streams", use_json(b.log_streams)}, {"routes", use_json(b.routes)},
          {"proxy_streams", use_json(b.proxy_streams)}, {"port_connections", use_json(b.port_connections)}, {"guest_log", log_json(b.guest_log)},
          {"console_log", log_json(b.console_log)}};
}

SandboxPaths sandbox_paths(const std::string& name) { return {paths::state_dir() / "sandboxes" / name}; }

Result<void> write_state(const SandboxPaths& p, const SandboxState& s) {
  json j = {{"name", s.name},
                  {"state", phase_name(s.phase)},
                  {"digest", s.digest},
                  {"supervisor_pid", s.supervisor_pid},
                  {"vmm_pid", s.vmm_pid},
                  {"accel", s.accel},
                  {"started_unix_ms", s.started_unix_ms},
                  {"ready_ms", s.ready_ms},
                  {"guest_uptime_ms", s.guest_uptime_ms},
                  {"error", s.error},
                  {"console_tail", s.console_tail},
                  {"warnings", s.warnings},
                  {"egress", {{"pid", s.egress_pid},
                              {"state", s.egress_state},
                              {"error", s.egress_error},
                              {"digest", s.egress_digest},
                              {"reload_digest", s.egress_reload_digest},
                              {"reload_error", s.egress_reload_error},
                              {"reload_id", s.egress_reload_id},
                              {"restarts", s.egress_restarts},
                              {"restart_in_ms", s.egress_restart_in_ms}}},
                  {"budgets", budgets_to_json(s.budgets)}};
  if (!s.docker_state.empty()) j["docker"] = {{"state", s.docker_state}, {"detail", s.docker_detail}};
  // console_tail and error carry guest bytes, which need not be UTF-8: a strict dump() would throw
  // and lose the state write; invalid bytes become U+FFFD (display escapes the rest).
  return write_file_atomic(p.state(), j.dump(2, ' ', false, json::error_handler_t::replace) + "\n", kPrivateFile);
}

Result<SandboxState> read_state(const SandboxPaths& p) {
  auto text = SBX_TRY(read_small_file(p.state()));
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(ErrorCode::invalid, p.state().string() + " is not valid JSON");
  SandboxState s;
  s.name = j.value("name", "");
  const std::string phase = j.value("state", "");
  for (Phase ph : {Phase::starting, Phase::ready, Phase::stopping, Phase::stopped, Phase::crashed})
    if (phase == phase_name(ph)) s.phase = ph;
  s.digest = j.value("digest", "");
  s.supervisor_pid = j.value("supervisor_pid", 0L);
  s.vmm_pid = j.value("vmm_pid", 0L);
  s.accel = j.value("accel", "");
  s.started_unix_ms = j.value("started_unix_ms", std::int64_t{0});
  s.ready_ms = j.value("ready_ms", std::int64_t{0});
  s.guest_uptime_ms = j.value("guest_uptime_ms", std::int64_t{0});
  s.error = j.value("error", "");
  s.console_tail = j.value("console_tail", "");
  if (j.contains("warnings") && j["warnings"].is_array())
    for (const auto& w : j["warnings"])
      if (w.is_string()) s.warnings.push_back(w.get<std::string>());
  if (j.contains("egress") && j["egress"].is_object()) {
    const auto& e = j["egress"];
    s.egress_pid = e.value("pid", 0L);
    s.egress_state = e.value("state", "");
    s.egress_error = e.value("error", "");
    s.egress_digest = e.value("digest", "");
    s.egress_reload_digest = e.value("reload_digest", "");
    s.egress_reload_error = e.value("reload_error", "");
    s.egress_reload_id = e.value("reload_id", 0L);
    s.egress_restarts = e.value("restarts", 0L);
    s.egress_restart_in_ms = e.value("restart_in_ms", std::int64_t{0});
  }
  if (j.contains("docker") && j["docker"].is_object()) {
    s.docker_state = j["docker"].value("state", "");
    s.docker_detail = j["docker"].value("detail", "");
  }
  if (j.contains("budgets") && j["budgets"].is_object()) {
    const auto& b = j["budgets"];
    const json none;
    s.budgets.log_streams = use_from(b.contains("log_streams") ? b["log_streams"] : none);
    s.budgets.routes = use_from(b.contains("routes") ? b["routes"] : none);
    s.budgets.proxy_streams = use_from(b.contains("proxy_streams") ? b["proxy_streams"] : none);
    s.budgets.port_connections = use_from(b.contains("port_connections") ? b["port_connections"] : none);
    s.budgets.guest_log = log_from(b.contains("guest_log") ? b["guest_log"] : none);
    s.budgets.console_log = log_from(b.contains("console_log") ? b["console_log"] : none);
  }
  if (auto marker = read_small_file(p.stop_request()); marker && s.supervisor_pid > 0) {
    std::string digits = *marker;
    while (!digits.empty() && (digits.back() == '\n' || digits.back() == ' ')) digits.pop_back();
    s.stop_requested = digits == std::to_string(s.supervisor_pid);
  }
  return s;
}

SandboxState effective_state(SandboxState s) {
  if ((s.phase == Phase::ready || s.phase == Phase::starting || s.phase == Phase::stopping) &&
      !supervisor_alive(s.supervisor_pid)) {
    if (s.stop_requested) {  // killed while stopping, after the user asked: a stop, not a crash
      s.phase = Phase::stopped;
      s.vmm_pid = 0;
      return s;
    }
    s.phase = Phase::crashed;
    s.error = "its supervisor (pid " + std::to_string(s.supervisor_pid) + ") is gone";
  }
  return s;
}

Result<void> write_stop_request(const SandboxPaths& p, long supervisor_pid) {
  return write_file_atomic(p.stop_request(), std::to_string(supervisor_pid) + "\n", kPrivateFile);
}

void clear_stop_request(const SandboxPaths& p) {
  std::error_code ec;
  std::filesystem::remove(p.stop_request(), ec);
}

void remove_sockets(const SandboxPaths& p) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(p.dir, ec))
    if (e.path().extension() == ".sock") std::filesystem::remove(e.path(), ec);
}

bool process_gone(long pid) {
  if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = s.rfind(')');
  return s.empty() || (paren != std::string::npos && paren + 2 < s.size() && s[paren + 2] == 'Z');
}

bool process_alive(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace sbx::supervisor
