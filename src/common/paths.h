#pragma once
// Where sbx keeps things on the host, following the XDG base directory spec.
#include <filesystem>

#include "common/error.h"

namespace sbx::paths {

/// $SBX_DATA_DIR, else $XDG_DATA_HOME/sbx, else ~/.local/share/sbx (kernels, secret store).
std::filesystem::path data_dir();
/// $SBX_STATE_DIR, else $XDG_STATE_HOME/sbx, else ~/.local/state/sbx (sandboxes, logs).
std::filesystem::path state_dir();
/// $SBX_CACHE_DIR, else $XDG_CACHE_HOME/sbx, else ~/.cache/sbx (images, initramfs).
std::filesystem::path cache_dir();
/// $SBX_CONFIG_DIR, else $XDG_CONFIG_HOME/sbx, else ~/.config/sbx (user policies).
std::filesystem::path config_dir();
/// The user's home directory ($HOME, else the passwd entry).
std::filesystem::path home_dir();

/// Create `dir` and its parents with mode 0700 (for the last component), as an Error on failure.
Result<void> ensure_private_dir(const std::filesystem::path& dir);

}  // namespace sbx::paths
