#pragma once
// Builds the initramfs: sbx-guest as /init plus the kernel modules it loads, cached by digest.
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "guest/host/kernel.h"

namespace sbx::guest {

/// Path of the guest agent binary: $SBX_GUEST_AGENT, else the one built with this sbx,
/// else <prefix>/lib/sbx/sbx-guest next to the running executable.
Result<std::filesystem::path> agent_binary();

/// Where the initramfs lists its modules, one file name per line, in load order.
inline constexpr std::string_view kModuleOrderFile = "lib/modules/sbx.order";
/// The same for modules loaded after boot, off the critical path.
inline constexpr std::string_view kLateModuleOrderFile = "lib/modules/sbx.late";

/// The initramfs bytes for `agent` (the static sbx-guest), `modules` (in load order) and
/// `late_modules` (loaded after the channel is up).
Result<std::string> make_initramfs(const std::filesystem::path& agent, const std::vector<std::filesystem::path>& modules,
                                   const std::vector<std::filesystem::path>& late_modules = {});

/// Build (or reuse) paths::cache_dir()/initramfs/<digest>.cpio for `kernel` with the default
/// guest modules and agent_binary(). Returns the archive path.
Result<std::filesystem::path> build_initramfs(const Kernel& kernel, const Progress& progress = {});
/// Same with an explicit agent binary and cache directory (tests).
Result<std::filesystem::path> build_initramfs(const Kernel& kernel, const std::filesystem::path& agent,
                                              const std::filesystem::path& cache_dir, const Progress& progress = {});

/// Read a whole file.
Result<std::string> read_file(const std::filesystem::path& file);

}  // namespace sbx::guest
