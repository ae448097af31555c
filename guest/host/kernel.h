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

/// Decompress a legacy-format LZ4 stream (magic 02 21 4c 18, as Linux uses for bzImage
/// payloads) starting at `in`; stops at the first block that does not fit. Fails on corrupt data
/// or output beyond `max_out` bytes.
Result<std::string> lz4_legacy_decompress(std::string_view in, std::size_t max_out = std::size_t(1) << 30);

/// The uncompressed ELF vmlinux inside the kernel's LZ4 bzImage, for direct PVH boot (about
/// 0.2 s faster under software emulation: no in-guest decompression). Cached as
/// `cache_dir`/kernel/vmlinux-<version>-<digest>.
Result<std::filesystem::path> extract_vmlinux(const Kernel& kernel, const std::filesystem::path& cache_dir,
                                              const Progress& progress = {});
/// Same in paths::cache_dir().
Result<std::filesystem::path> extract_vmlinux(const Kernel& kernel, const Progress& progress = {});

}  // namespace sbx::guest
