// sbx status [PATH] [--name N] [--json]: what runs, what crashed and why.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/escape.h"
#include "common/paths.h"
#include "supervisor/launch.h"
#include "supervisor/spawn.h"

namespace sbx::cli {
namespace {
namespace fs = std::filesystem;

// The egress pins the running proxy applies (launch.json's: set by the last sbx up).
std::vector<proxy::HostPin> applied_pins(const supervisor::SandboxPaths& p) {
  auto text = supervisor::read_small_file(p.launch());
  if (!text) return {};
  auto l = supervisor::launch_from_json(*text, p.launch().string());
  return l ? l->egress.pins : std::vector<proxy::HostPin>{};
}

nlohmann::json to_json(const supervisor::SandboxState& s, const supervisor::SandboxPaths& p) {
  nlohmann::json j = {{"name", s.name},
                      {"state", supervisor::phase_name(s.phase)},
                      {"supervisor_pid", s.phase == supervisor::Phase::ready ? s.supervisor_pid : 0},
                      {"vmm_pid", s.phase == supervisor::Phase::ready ? s.vmm_pid : 0},
                      {"accel", s.accel},
                      {"ready_ms", s.ready_ms},
                      {"digest", s.digest},
                      {"state_dir", p.dir.string()},
                      {"console_log", p.console_log().string()}};
  j["warnings"] = s.warnings;
  if (!s.egress_state.empty()) {
    // A stopped sandbox's proxy is gone with it whatever state.json last said.
    const bool live = s.phase == supervisor::Phase::ready || s.phase == supervisor::Phase::starting;
    j["egress"] = {{"state", live ? s.egress_state : std::string("stopped")},
                   {"pid", live ? s.egress_pid : 0},
                   {"error", s.egress_error},
                   {"restarts", s.egress_restarts},
                   {"log", p.egress_log().string()}};
    nlohmann::json pins = nlohmann::json::array();
    if (live)
      for (const auto& pin : applied_pins(p)) {
        nlohmann::json addrs = nlohmann::json::array();
        for (const auto& ip : pin.addresses) addrs.push_back(ip.str());
        pins.push_back({{"name", pin.name}, {"addresses", addrs}});
      }
    j["egress"]["pins"] = pins;
  }
  if (!s.docker_state.empty()) {
    // [docker]: the agent's last report; a stopped sandbox's daemon is gone with it.
    const bool live = s.phase == supervisor::Phase::ready || s.phase == supervisor::Phase::starting;
    j["docker"] = {{"state", live ? s.docker_state : std::string("stopped")}, {"detail", live ? s.docker_detail : std::string()}};
  }
  j["budgets"] = supervisor::budgets_to_json(s.budgets);
  if (!s.error.empty()) {
    j["error"] = s.error;
    j["console_tail"] = s.console_tail;
  }
  return j;
}

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// "what/limit", plus how many were refused when any were.
std::string use_text(const supervisor::BudgetUse& u) {
  std::string t = std::to_string(u.used) + "/" + std::to_string(u.limit);
  if (u.refused > 0) t += " (" + std::to_string(u.refused) + " refused)";
  return t;
}

std::string log_text(const supervisor::LogUse& l) {
  std::string t = mib(l.bytes) + " of " + mib(l.limit) + " x" + std::to_string(l.keep + 1);
  if (l.rotations > 0) t += ", " + std::to_string(l.rotations) + " rotations";
  if (l.dropped > 0) t += ", " + std::to_string(l.dropped) + " bytes dropped";
  return t;
}

// The error, warnings and console lines may hold guest text: each is escaped (the JSON form is
// escaped by JSON itself).
void print_human(const supervisor::SandboxState& s, const supervisor::SandboxPaths& p, bool detailed) {
  const auto esc = [](const std::string& t) { return text::escape_for_terminal(t); };
  std::cout << s.name << "  " << supervisor::phase_name(s.phase);
  if (s.phase == supervisor::Phase::ready)
    std::cout << "  (supervisor " << s.supervisor_pid << ", vmm " << s.vmm_pid << ", " << s.accel << ", ready in "
              << s.ready_ms << " ms)";
  std::cout << "\n";
  if (!s.error.empty()) std::cout << "  error: " << esc(s.error) << "\n";
  for (const auto& w : s.warnings) std::cout << "  warning: guest setup: " << esc(w) << "\n";
  if (s.phase == supervisor::Phase::ready && !s.egress_state.empty()) {
    std::cout << "  egress proxy: " << s.egress_state;
    if (s.egress_pid > 0 && s.egress_state != "failed") std::cout << " (pid " << s.egress_pid << ")";
    if (s.egress_state == "restarting") std::cout << " in " << s.egress_restart_in_ms << " ms";
    if (s.egress_restarts > 0) std::cout << " (restarted " << s.egress_restarts << " times)";
    if (!s.egress_error.empty() && s.egress_state != "running")
      std::cout << ": " << esc(s.egress_error) << "; guest connections are refused";
    std::cout << "\n";
    if (const auto pins = applied_pins(p); !pins.empty())
      std::cout << "  egress pins: " << proxy::host_pins_text(pins) << "  (SBX_EGRESS_RESOLVE of the last 'sbx up')\n";
  }
  if (s.phase == supervisor::Phase::ready && !s.docker_state.empty()) {
    std::cout << "  docker daemon: " << s.docker_state;
    if (!s.docker_detail.empty()) std::cout << (s.docker_state == "failed" ? ": " : " (") << esc(s.docker_detail) << (s.docker_state == "failed" ? "" : ")");
    std::cout << "  (its log: sbx logs --console)\n";
  }
  if (s.phase == supervisor::Phase::ready) {
    const auto& b = s.budgets;
    std::cout << "  budgets: streams " << use_text(b.routes) << ", log streams " << use_text(b.log_streams)
              << ", proxy streams " << use_text(b.proxy_streams) << ", port connections " << use_text(b.port_connections) << "\n"
              << "           guest.log " << log_text(b.guest_log) << "; console.log " << log_text(b.console_log) << "\n";
  }
  if (detailed) {
    std::cout << "  state: " << p.dir.string() << "\n";
    if (s.phase == supervisor::Phase::crashed && !s.console_tail.empty())
      std::cout << "  last console lines:\n" << text::escape_lines_for_terminal(s.console_tail, "    | ");
  }
}

int run_status(const Args& args) {
  const Output out = Output::for_args(args);
  const bool json = out.json();
  std::vector<supervisor::SandboxPaths> targets;
  bool single = false;
  if (args.value("name") || !args.positionals.empty() || fs::exists("Sandboxfile")) {
    auto t = resolve_sandbox(args, true);
    if (!t) return out.error(t.error());
    targets.push_back(t->paths);
    single = true;
  } else {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(paths::state_dir() / "sandboxes", ec))
      if (e.is_directory()) targets.push_back({e.path()});
  }
  nlohmann::json list = nlohmann::json::array();
  int rc = 0;
  for (const auto& p : targets) {
    auto st = supervisor::read_state(p);
    if (!st) {
      if (single) {
        Error e{ErrorCode::not_found, "sandbox '" + p.dir.filename().string() + "' has never run", {}, "start it with 'sbx up'", {}};
        return out.error(e);
      }
      continue;
    }
    const auto s = supervisor::effective_state(*st);
    if (s.phase == supervisor::Phase::crashed) rc = single ? 1 : rc;
    if (json) list.push_back(to_json(s, p));
    else print_human(s, p, single);
  }
  if (json) out.result(single && !list.empty() ? list[0] : nlohmann::json{{"sandboxes", list}});
  else if (targets.empty()) out.note("no sandboxes (start one with 'sbx up')");
  return rc;
}

}  // namespace

const CommandSpec kStatusCommand{
    .name = "status",
    .summary = "Show whether a sandbox runs, and why it stopped",
    .usage = "sbx status [OPTIONS] [PATH]",
    .description =
        "Shows the sandbox of the Sandboxfile at PATH or in the current directory (or --name): its\n"
        "state (starting, running, stopping, stopped, crashed), its supervisor and VMM processes,\n"
        "the accelerator and its boot time. A crashed sandbox shows why (guest kernel panic, VMM\n"
        "killed, guest powered off on its own, boot timeout) and the last lines of its console.\n"
        "It also shows the sandbox's egress proxy (running, or failed and why: then every outbound\n"
        "connection from the guest is refused).\n"
        "Without a Sandboxfile here and without --name, lists every sandbox.\n"
        "\n"
        "EXIT STATUS\n"
        "    0; 1 when the one sandbox asked about crashed or never ran; 2 usage error.\n",
    .options = {{"name", 'n', "NAME", "The sandbox to show."},
                {"json", 0, "", "Print JSON on stdout."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_status,
};

}  // namespace sbx::cli
