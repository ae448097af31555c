#pragma once
// The built-in default root disk: a busybox-static tree made into an ext4 image with
// `mkfs.ext4 -d` (no root, no loop devices), cached by the digest of its inputs.
#include <filesystem>

#include "common/error.h"
#include "guest/host/initramfs.h"

namespace sbx::guest {

/// The unprivileged user programs run as inside the guest.
inline constexpr unsigned kAgentUid = 1000;
inline constexpr unsigned kAgentGid = 1000;

/// Lay out the default rootfs tree in `dir` (must be empty or absent) from `busybox`.
Result<void> make_default_rootfs_tree(const std::filesystem::path& dir, const std::filesystem::path& busybox);

/// Build (or reuse) paths::cache_dir()/images/default-<digest>.ext4. $SBX_BUSYBOX overrides /bin/busybox.
Result<std::filesystem::path> build_default_rootfs(const Progress& progress = {});
/// Same with an explicit cache directory (tests).
Result<std::filesystem::path> build_default_rootfs(const std::filesystem::path& cache_dir, const Progress& progress);

/// Make an ext4 image `image` of `size_mib` from directory `dir`; every file is owned by root
/// except the paths in `agent_owned`, which belong to kAgentUid:kAgentGid.
Result<void> make_ext4(const std::filesystem::path& dir, const std::filesystem::path& image, unsigned size_mib,
                       const std::vector<std::string>& agent_owned);

}  // namespace sbx::guest
