#pragma once
// Every sandbox on this machine, as its state directory and its processes say: the one listing
// behind `sbx ls`, `sbx down --all`, `sbx rm --all` and the image cache's "in use" check.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "supervisor/launch.h"
#include "supervisor/state.h"

namespace sbx::reconcile {

/// One sandbox, read from its state directory (nothing here talks to its supervisor).
struct SandboxInfo {
  std::string name;
  supervisor::SandboxPaths paths;
  /// "running", "starting", "stopping", "stopped" or "crashed" (a live phase whose supervisor is
  /// gone is a crash, as `sbx status` says).
  std::string status;
  std::string error;                       // why it crashed
  bool live = false;                       // its supervisor process runs
  long supervisor_pid = 0;
  std::filesystem::path project_dir;       // where its Sandboxfile is ("" when unknown)
  std::string image;                       // [image] ref its disk was made for ("" when unknown)
  std::int64_t started_unix_ms = 0;        // when its supervisor started (0 when not live)
  std::uint64_t disk_used_bytes = 0;       // allocated blocks of its sparse disk
  std::uint64_t disk_size_bytes = 0;       // the disk's size (0: no disk)
  std::vector<std::filesystem::path> root_disks;  // read-only disks of its launch (the images it uses)
  std::vector<supervisor::PortLaunch> ports;      // its [[port]] forwards (listening while live)
  /// Its root disks count as in use: the supervisor lives, or it is being started (a launch
  /// written, no state recorded yet).
  bool uses_images() const;
};

/// Every sandbox under `state_dir`/sandboxes, sorted by name. Entries that are not sandboxes
/// (names starting with '.', such as a removal in progress) are skipped.
std::vector<SandboxInfo> list_sandboxes(const std::filesystem::path& state_dir);

}  // namespace sbx::reconcile
