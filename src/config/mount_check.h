#pragma once
// What `sbx up` checks about [[mount]] sources on this host before any VM starts (the loader
// itself never touches the file system, so `sbx validate` works anywhere).
#include <filesystem>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::config {

/// Every mount problem on this host, each with its [[mount]] location and a fix: a missing source,
/// a source that is not a directory, one that would expose sbx's own secrets or state
/// (`private_dirs`), and a nested target whose mount point does not exist in the outer source.
Result<void> check_mount_sources(const Sandboxfile& file, const std::vector<std::filesystem::path>& private_dirs);

/// The mounts ordered so each target is mounted after any mount it is nested in.
std::vector<Mount> mount_order(const std::vector<Mount>& mounts);

}  // namespace sbx::config
