// sbx ls: every sandbox on this machine, with its status, uptime, image and disk.
#include <chrono>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/escape.h"
#include "common/paths.h"
#include "config/port_rules.h"
#include "image/progress.h"
#include "reconcile/sandboxes.h"

namespace sbx::cli {
namespace {

// "45s", "12m", "3h05m", "2d04h".
std::string duration_text(std::int64_t s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(s / 60));
  else if (s < 86400) std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s % 3600 / 60));
  else std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400), static_cast<long long>(s % 86400 / 3600));
  return buf;
}

// "127.0.0.1:8080->3000,[::1]:9000->9000" while it runs (only then does anything listen).
std::string ports_text(const reconcile::SandboxInfo& s) {
  if (!s.live || s.ports.empty()) return "-";
  std::string t;
  for (const auto& p : s.ports) t += (t.empty() ? "" : ",") + config::endpoint_text(p.address, p.host_port) + "->" + std::to_string(p.guest_port);
  return t;
}

nlohmann::json ports_json(const reconcile::SandboxInfo& s) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : s.ports)
    list.push_back({{"host_address", p.address}, {"host_port", p.host_port}, {"guest_port", p.guest_port}, {"listening", s.live}});
  return list;
}

int run_ls(const Args& args) {
  const Output out = Output::for_args(args);
  const auto sandboxes = reconcile::list_sandboxes(paths::state_dir());
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count();
  auto uptime_s = [&](const reconcile::SandboxInfo& s) -> std::int64_t {
    return s.started_unix_ms > 0 && now_ms > s.started_unix_ms ? (now_ms - s.started_unix_ms) / 1000 : 0;
  };
  if (out.json()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : sandboxes) {
      nlohmann::json j = {{"name", s.name},
                          {"status", s.status},
                          {"project_dir", s.project_dir.string()},
                          {"image", s.image},
                          {"uptime_s", s.live ? nlohmann::json(uptime_s(s)) : nlohmann::json(nullptr)},
                          {"disk_used_bytes", s.disk_used_bytes},
                          {"disk_size_bytes", s.disk_size_bytes},
                          {"ports", ports_json(s)},
                          {"state_dir", s.paths.dir.string()}};
      if (!s.error.empty()) j["error"] = s.error;
      list.push_back(j);
    }
    out.result({{"ok", true}, {"sandboxes", list}});
    return 0;
  }
  if (sandboxes.empty()) {
    out.note("no sandboxes", "'sbx up' in a directory with a Sandboxfile makes one");
    return 0;
  }
  std::printf("%-20s  %-8s  %-7s  %-24s  %-18s  %-5s  %s\n", "NAME", "STATUS", "UPTIME", "IMAGE", "DISK", "PORTS", "PROJECT");
  for (const auto& s : sandboxes) {
    const std::string disk = s.disk_size_bytes ? image::human_bytes(s.disk_used_bytes) + " / " + image::human_bytes(s.disk_size_bytes)
                                               : "-";
    // Names and paths come from the state directory, which other tools can write: escape them.
    std::printf("%-20s  %-8s  %-7s  %-24s  %-18s  %-5s  %s\n", text::escape_for_terminal(s.name).c_str(), s.status.c_str(),
                s.live ? duration_text(uptime_s(s)).c_str() : "-",
                s.image.empty() ? "-" : text::escape_for_terminal(s.image).c_str(), disk.c_str(), ports_text(s).c_str(),
                s.project_dir.empty() ? "-" : text::escape_for_terminal(s.project_dir.string()).c_str());
  }
  return 0;
}

}  // namespace

const CommandSpec kLsCommand{
    .name = "ls",
    .summary = "List every sandbox on this machine",
    .usage = "sbx ls [--json]",
    .description =
        "Lists every sandbox under the state directory, running or not, sorted by name:\n"
        "    NAME     the sandbox's name (the Sandboxfile's name, else its directory's)\n"
        "    STATUS   running, starting, stopping, stopped, or crashed (its supervisor or VMM\n"
        "             died: 'sbx status --name NAME' says why)\n"
        "    UPTIME   since its supervisor started, for a live sandbox\n"
        "    IMAGE    the [image] ref its disk was made on\n"
        "    DISK     host space its sparse disk uses now / the disk's size ([resources] disk)\n"
        "    PORTS    forwarded ports while it runs, HOST->GUEST ('sbx ports' for one sandbox)\n"
        "    PROJECT  the directory of its Sandboxfile\n"
        "It reads the state directory and checks processes; it never talks to a sandbox, so it\n"
        "answers at once even when a guest is wedged.\n"
        "\n"
        "EXIT STATUS\n"
        "    0 listed; 2 usage error.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx ls\n"
        "    sbx ls --json | jq -r '.sandboxes[] | select(.status == \"stopped\") | .name'\n",
    .options = {{"json", 0, "",
                 "Print {\"ok\":true,\"sandboxes\":[{name, status, project_dir, image, uptime_s, disk_used_bytes, "
                 "disk_size_bytes, ports [{host_address, host_port, guest_port, listening}], state_dir, error?}]} on stdout."}},
    .min_positionals = 0,
    .max_positionals = 0,
    .run = run_ls,
};

}  // namespace sbx::cli
