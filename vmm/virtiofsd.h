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

/// Where virtiofsd finds the share `source` in its own mount namespace: a path under a private
/// tmpfs, rebuilt there by sbx, at whose end the checked directory is bind-mounted.
std::string served_path(const std::filesystem::path& source);

/// A Share::protect entry: relative, '/'-separated, no empty, "." or ".." part, each part a
/// valid file name.
bool valid_protect_path(std::string_view rel);

/// The virtiofsd command line for `share` served from the listening socket passed as fd 3.
std::vector<std::string> virtiofsd_argv(const Share& share);

/// Start virtiofsd serving `share.source` (absolute and symlink-free, as `sbx up` checked it) on a
/// socket sbx listens on at `share.socket`, dying with this process. It runs as `user` in its own
/// user namespace where only the guest's share.guest_uid/guest_gid map to that user: guest files
/// land as the invoking user, guest root gets no host identity, and virtiofsd can reach no more
/// than the user can. The source is opened once without following any symlink and exactly that
/// directory is served (read-only shares through a read-only bind mount, so not even a
/// compromised guest kernel can write through them). virtiofsd gets neither CAP_FSETID nor
/// CAP_SETFCAP and runs under share_seccomp_program(): no served file becomes set-uid, set-gid
/// or gets file capabilities. In a read-write share each existing `share.protect` path is a
/// read-only bind mount in virtiofsd's namespace and each directory on its way a bind mount of
/// itself, so the guest (root too) can neither write, replace, rename nor remove them; moving a
/// file into or out of such a directory then fails with EXDEV. Paths absent at start are not
/// protected. Returns once virtiofsd has been started.
Result<Child> start_virtiofsd(const Share& share, const HostUser& user, const std::filesystem::path& log);

}  // namespace sbx::vmm
