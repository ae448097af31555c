#pragma once
// Finds the guest kernel: the bzImage, its module tree and its version.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace sbx::guest {

/// Receives one human progress line ("building initramfs ...").
using Progress = std::function<void(std::string_view)>;

/// A guest kernel ready to boot.
struct Kernel {
  std::filesystem::path image;        // boot/vmlinuz-<version> (bzImage)
  std::filesystem::path modules_dir;  // lib/modules/<version>
  std::string version;                // e.g. 6.1.0-56-cloud-amd64
};

/// Locate the kernel: `setting` (a kernel root dir holding boot/ and lib/modules/), else
/// $SBX_KERNEL, else paths::data_dir()/kernel/current, else /var/lib/sbx/kernel/current.
Result<Kernel> locate_kernel(const std::optional<std::filesystem::path>& setting = std::nullopt);
/// Read a kernel from one root dir (boot/vmlinuz-* and lib/modules/<same version>).
Result<Kernel> kernel_from_root(const std::filesystem::path& root);

}  // namespace sbx::guest
