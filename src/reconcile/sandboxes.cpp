#include "reconcile/sandboxes.h"

#include <algorithm>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "reconcile/sandbox_disk.h"
#include "supervisor/launch.h"
#include "supervisor/spawn.h"

namespace sbx::reconcile {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool has_state_file(const SandboxInfo& s) {
  struct stat st{};
  return ::stat(s.paths.state().c_str(), &st) == 0;
}

// The project directory and root disks from launch.json (written by sbx up, kept after down).
void read_launch(SandboxInfo& s) {
  auto text = supervisor::read_small_file(s.paths.launch());
  if (!text) return;
  const json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return;
  if (j.contains("egress") && j["egress"].is_object()) s.project_dir = j["egress"].value("project_dir", "");
  if (j.contains("machine") && j["machine"].is_object() && j["machine"].contains("disks") && j["machine"]["disks"].is_array())
    for (const auto& d : j["machine"]["disks"])
      if (d.is_object() && d.value("read_only", false) && d.contains("path") && d["path"].is_string())
        s.root_disks.emplace_back(d["path"].get<std::string>());
  if (j.contains("ports") && j["ports"].is_array())
    for (const auto& p : j["ports"]) {
      if (!p.is_object() || !p.contains("address") || !p["address"].is_string()) continue;
      const auto number = [&](const char* k) { return p.contains(k) && p[k].is_number_integer() ? p[k].get<long long>() : 0LL; };
      const long long host = number("host_port"), guest = number("guest_port");
      if (host < 1 || host > 65535 || guest < 1 || guest > 65535) continue;
      s.ports.push_back({p["address"].get<std::string>(), static_cast<std::uint16_t>(host), static_cast<std::uint16_t>(guest)});
    }
}

}  // namespace

bool SandboxInfo::uses_images() const {
  if (live) return true;
  struct stat st{};
  return ::stat(paths.launch().c_str(), &st) == 0 && !has_state_file(*this);
}

std::vector<SandboxInfo> list_sandboxes(const fs::path& state_dir) {
  std::vector<SandboxInfo> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state_dir / "sandboxes", ec)) {
    const std::string name = e.path().filename().string();
    std::error_code e2;
    if (name.empty() || name.front() == '.' || !e.is_directory(e2)) continue;
    SandboxInfo s;
    s.name = name;
    s.paths = {e.path()};
    s.status = "stopped";
    if (auto st = supervisor::read_state(s.paths)) {
      const supervisor::SandboxState seen = supervisor::effective_state(*st);
      s.status = supervisor::phase_name(seen.phase);
      s.error = seen.error;
      s.supervisor_pid = st->supervisor_pid;
      s.live = supervisor::supervisor_alive(st->supervisor_pid);
      if (s.live) s.started_unix_ms = st->started_unix_ms;
    }
    read_launch(s);
    if (auto rec = read_disk_record(s.paths)) {
      s.image = rec->image;
      s.disk_size_bytes = rec->size_bytes;
    }
    s.disk_used_bytes = disk_used_bytes(s.paths);
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace sbx::reconcile
