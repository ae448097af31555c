#pragma once
// The rules a [[mount]] target must follow, whatever the host: the loader checks them (the
// host-side checks of sources are in mount_check.h).
#include <string_view>

#include "common/error.h"

namespace sbx::config {

/// Whether the normalised guest path `path` is `root` or below it.
bool guest_path_under(std::string_view path, std::string_view root);

/// Whether a mount may cover the normalised guest path `target`: not '/', nothing under /proc,
/// /sys or /dev, and not exactly one of the guest's system directories; the error says why.
Result<void> check_mount_target(std::string_view target);

}  // namespace sbx::config
