#pragma once
// Running QEMU's virtiofsd for one shared directory.
#include <filesystem>

#include "common/error.h"
#include "vmm/process.h"
#include "vmm/vmm.h"

namespace sbx::vmm {

/// Where Debian's QEMU ships virtiofsd ($SBX_VIRTIOFSD overrides).
std::filesystem::path virtiofsd_binary();

/// Start virtiofsd serving `share.source` on `share.socket`, dying with this process; for a
/// read-only share the directory is bind-mounted read-only in a private mount namespace first,
/// so not even a compromised guest kernel can write through it. Returns once the socket exists.
Result<Child> start_virtiofsd(const Share& share, const std::filesystem::path& log);

}  // namespace sbx::vmm
