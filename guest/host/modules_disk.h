#pragma once
// The kernel's whole module tree as a read-only ext4 disk (with a modules.dep made on the host by
// `depmod -b`), so a guest that runs Docker can modprobe bridge, veth, br_netfilter, nf_tables...
#include <filesystem>

#include "common/error.h"
#include "guest/host/kernel.h"

namespace sbx::guest {

/// The virtio-blk serial of the modules disk; the guest finds it by `sbx.modules=SERIAL`.
inline constexpr std::string_view kModulesDiskSerial = "sbx-modules";

/// `cache_dir`/modules/<version>-<digest>.ext4: every file of kernel.modules_dir plus depmod's
/// indexes, its root being what the guest mounts at /lib/modules/<version>. Cached by the digest
/// of the kernel image (the package ships kernel and modules together) and the layout version.
Result<std::filesystem::path> build_modules_disk(const Kernel& kernel, const std::filesystem::path& cache_dir,
                                                 const Progress& progress);
/// The same under paths::cache_dir().
Result<std::filesystem::path> build_modules_disk(const Kernel& kernel, const Progress& progress);

}  // namespace sbx::guest
