// sbx ports [PATH] [--name N] [--json]: the sandbox's forwarded ports ([[port]]).
#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/paths.h"
#include "config/port_rules.h"
#include "reconcile/sandboxes.h"

namespace sbx::cli {
namespace {

int run_ports(const Args& args) {
  const Output out = Output::for_args(args);
  auto target = resolve_sandbox(args, true);
  if (!target) return out.error(target.error());
  const auto all = reconcile::list_sandboxes(paths::state_dir());
  const auto it = std::find_if(all.begin(), all.end(), [&](const auto& s) { return s.name == target->name; });
  // A sandbox never started has no launch yet: its Sandboxfile says what it will forward.
  std::vector<supervisor::PortLaunch> ports;
  std::string status = "not created";
  bool live = false;
  if (it != all.end()) {
    ports = it->ports;
    status = it->status;
    live = it->live && it->status == "running";
  } else if (target->file) {
    for (const auto& p : target->file->ports) ports.push_back({p.host_address, p.host_port, p.guest_port});
  }
  if (out.json()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& p : ports)
      list.push_back({{"host_address", p.address}, {"host_port", p.host_port}, {"guest_port", p.guest_port},
                      {"listening", live}, {"loopback_only", config::is_loopback_address(p.address)}});
    out.result({{"ok", true}, {"name", target->name}, {"status", status}, {"ports", list}});
    return 0;
  }
  if (ports.empty()) {
    out.note("sandbox '" + target->name + "' forwards no ports", "add a [[port]] section with guest = PORT to its Sandboxfile");
    return 0;
  }
  std::printf("%-28s  %-6s  %s\n", "HOST", "GUEST", "STATUS");
  for (const auto& p : ports) {
    std::string state = live ? "listening" : status;
    if (live && !config::is_loopback_address(p.address)) state += " (beyond this machine)";
    std::printf("%-28s  %-6u  %s\n", config::endpoint_text(p.address, p.host_port).c_str(), unsigned{p.guest_port}, state.c_str());
  }
  return 0;
}

}  // namespace

const CommandSpec kPortsCommand{
    .name = "ports",
    .summary = "List the sandbox's forwarded ports",
    .usage = "sbx ports [OPTIONS] [PATH]",
    .description =
        "Lists the [[port]] forwards of the sandbox of the Sandboxfile at PATH or in the current\n"
        "directory (or --name): the host address and port its supervisor listens on, the port in the\n"
        "guest each connection goes to (127.0.0.1:PORT inside the VM), and whether it listens now\n"
        "(only while the sandbox runs). Host ports are on 127.0.0.1 unless the Sandboxfile writes\n"
        "an address (host = \"0.0.0.0:8080\" is reachable from other machines).\n"
        "\n"
        "EXIT STATUS\n"
        "    0 listed; 1 no such sandbox; 2 usage error.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx ports\n"
        "    curl http://$(sbx ports --json | jq -r '.ports[0] | \"\\(.host_address):\\(.host_port)\"')/\n",
    .options = {{"name", 'n', "NAME", "The sandbox to show."},
                {"json", 0, "",
                 "Print {\"ok\":true,\"name\",\"status\",\"ports\":[{host_address, host_port, guest_port, listening, "
                 "loopback_only}]} on stdout."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_ports,
};

}  // namespace sbx::cli
