#pragma once
// What `sbx up` checks about [[mount]] sources on this host before any VM starts (the loader
// itself never touches the file system, so `sbx validate` works anywhere).
#include <filesystem>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::config {

/// Every mount problem on this host, each with its [[mount]] location and a fix: a missing source,
/// a source that is not a directory, one that passes through a symlink the sandbox could have
/// made (see resolve_mount_source), one that would expose sbx's own secrets or state
/// (`private_dirs`), and a nested target whose mount point does not exist in the outer source.
/// On success each source is replaced by its symlink-free path: what was checked is what is served.
Result<void> check_mount_sources(Sandboxfile& file, const std::vector<std::filesystem::path>& private_dirs);

/// The symlink-free path `mount`'s source names on this host. A symlink on the way is followed
/// only when it lies outside the Sandboxfile's directory and outside every read-write mount's
/// source (where the sandbox itself could have planted it); one inside them is refused.
Result<std::filesystem::path> resolve_mount_source(const Sandboxfile& file, const Mount& mount);

/// The mounts ordered so each target is mounted after any mount it is nested in.
std::vector<Mount> mount_order(const std::vector<Mount>& mounts);

}  // namespace sbx::config
