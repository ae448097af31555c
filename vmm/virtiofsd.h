#pragma once
// Running QEMU's virtiofsd for one shared directory, as the invoking user inside a user namespace.
#include <filesystem>
#include <string>
#include <sys/types.h>

#include "common/error.h"
#include "vmm/process.h"
#include "vmm/vmm.h"

namespace sbx::vmm {

/// Where Debian's QEMU ships virtiofsd ($SBX_VIRTIOFSD overrides).
std::filesystem::path virtiofsd_binary();

/// The host user a share is served as.
struct HostUser {
  uid_t uid = 0;
  gid_t gid = 0;
};

/// The invoking user: $SUDO_UID/$SUDO_GID when running as root through sudo, else the real ids.
HostUser invoking_user();

/// The virtiofsd command line for `share` served from the listening socket passed as fd 3.
std::vector<std::string> virtiofsd_argv(const Share& share);

/// Start virtiofsd serving `share.source` on a socket sbx listens on at `share.socket`, dying with
/// this process. It runs as `user` in its own user namespace where only the guest's
/// share.guest_uid/guest_gid map to that user: guest files land as the invoking user, guest root
/// gets no host identity, and virtiofsd can reach no more than the user can. A read-only share is
/// also bind-mounted read-only in a private mount namespace, so not even a compromised guest
/// kernel can write through it. Returns once virtiofsd has been started.
Result<Child> start_virtiofsd(const Share& share, const HostUser& user, const std::filesystem::path& log);

}  // namespace sbx::vmm
