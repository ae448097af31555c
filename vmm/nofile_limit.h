#pragma once
// The open-file limit virtiofsd runs with. It keeps one O_PATH descriptor per inode the guest
// knows, so a share with many files needs many (it asks for 1048576); in its user namespace it
// cannot raise the hard limit, so sbx raises the soft limit to the hard one before exec and
// passes exactly that number, and `sbx up` warns when the hard limit is low.
#include <optional>
#include <string>
#include <sys/resource.h>

namespace sbx::vmm {

/// What virtiofsd would take (its own default) and the level below which sbx up warns.
inline constexpr rlim_t kVirtiofsdWantsNofile = 1048576;
inline constexpr rlim_t kNofileWarnBelow = 65536;

/// The limit virtiofsd gets from `current`: soft = hard = the hard limit (root may first raise the
/// hard limit to kVirtiofsdWantsNofile), never above kVirtiofsdWantsNofile (all virtiofsd asks for). Allocates nothing (it
/// runs between fork and exec).
rlimit virtiofsd_nofile(const rlimit& current, bool root);

/// virtiofsd_nofile() of this process's limit and user, where root's raise is tried on this
/// process's own hard limit (soft limit unchanged) and dropped when the kernel refuses it
/// (no CAP_SYS_RESOURCE). Allocates nothing.
rlimit virtiofsd_nofile();

/// The one warning sbx up prints when shares would get fewer than kNofileWarnBelow descriptors:
/// the limit and the fix; nullopt when the limit is fine.
std::optional<std::string> nofile_warning(const rlimit& for_virtiofsd);

}  // namespace sbx::vmm
