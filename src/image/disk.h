#pragma once
// Turning an unpacked image tree into what the sbx guest boots: the additions PID 1 and exec
// need (mount points, the unprivileged `agent` user when the image has none) and a read-only
// ext4 made with `mkfs.ext4 -d` (no root, no loop devices), owners set by debugfs when sbx
// could not chown while unpacking.
#include <filesystem>
#include <map>
#include <string>

#include "common/error.h"
#include "image/tree.h"

namespace sbx::image {

/// What the guest additions did.
struct GuestAdditions {
  unsigned agent_uid = 0, agent_gid = 0;
  bool added_agent = false;
};

/// Add mount points, /etc/passwd and /etc/group entries for `agent`, /home/agent. When
/// `meta` is given (no chown possible) the owners are recorded there instead.
Result<GuestAdditions> add_guest_files(int root_fd, std::map<std::string, EntryMeta>* meta);

/// Make `image` from `dir` sized to fit; with `meta`, set every entry's owner (and the mode of
/// those in meta) inside the image with debugfs, others become root-owned.
Result<void> make_image_disk(const std::filesystem::path& dir, const std::filesystem::path& image,
                             const std::map<std::string, EntryMeta>* meta);

}  // namespace sbx::image
