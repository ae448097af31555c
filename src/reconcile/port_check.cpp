#include "reconcile/port_check.h"

#include <algorithm>

#include "supervisor/launch.h"
#include "supervisor/port_forward.h"
#include "supervisor/spawn.h"

namespace sbx::reconcile {

Result<void> check_ports_free(const config::Sandboxfile& file, const supervisor::SandboxPaths& paths) {
  if (file.ports.empty()) return {};
  std::vector<supervisor::PortLaunch> held;  // by this sandbox's live supervisor
  if (auto st = supervisor::read_state(paths); st && supervisor::supervisor_alive(st->supervisor_pid))
    if (auto text = supervisor::read_small_file(paths.launch()))
      if (auto running = supervisor::launch_from_json(*text, paths.launch().string())) held = running->ports;
  for (const auto& p : file.ports) {
    const bool ours = std::any_of(held.begin(), held.end(), [&](const supervisor::PortLaunch& h) { return h.host_port == p.host_port; });
    if (ours) continue;
    auto fd = supervisor::listen_tcp(p.host_address, p.host_port);
    if (!fd) {
      Error e = fd.error();
      e.location = p.location;
      return std::unexpected(e);
    }
  }
  return {};
}

}  // namespace sbx::reconcile
