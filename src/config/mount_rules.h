#pragma once
// The rules a [[mount]] target must follow, whatever the host: the loader checks them (the
// host-side checks of sources are in mount_check.h).
#include <cstddef>
#include <string_view>

#include "common/error.h"

namespace sbx::config {

/// Whether the normalised guest path `path` is `root` or below it.
bool guest_path_under(std::string_view path, std::string_view root);

/// Whether a mount may cover the normalised guest path `target`: not '/', nothing under /proc,
/// /sys or /dev, and not exactly one of the guest's system directories; the error says why.
Result<void> check_mount_target(std::string_view target);

/// Bounds on a mount's `local` list: paths per mount, and bytes per path.
inline constexpr size_t kMaxLocalPaths = 16;
inline constexpr size_t kMaxLocalPathBytes = 1024;

/// Whether `path` may be an entry of a mount's `local` list: relative to the mount's target,
/// already normalised (no '.', '..' or empty components, no leading or trailing '/'), no control
/// characters, each component at most 255 bytes, at most kMaxLocalPathBytes; the error says why
/// and the hint gives the fixed form where there is one.
Result<void> check_local_path(std::string_view path);

}  // namespace sbx::config
