#pragma once
// File-system primitives for building image trees from hostile input: every path is resolved
// beneath a root directory fd without following symlinks, so nothing an archive plants can
// redirect a write, a removal or a read outside the tree.
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "common/fd.h"

namespace sbx::image {

/// Normalise a member name from an archive: drop "./", leading '/' and empty components; refuse
/// "..", NUL and control characters, names over 4096 bytes. "" means the root itself.
std::optional<std::string> clean_member_path(std::string_view name);

/// Lexically resolve a symlink `target` found at `link` (both relative to a root): absolute
/// targets are taken from the root; ".." may not climb above it. nullopt when it would.
std::optional<std::string> resolve_link_target(std::string_view link, std::string_view target);

/// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): open `rel` (cleaned,
/// "" = the root) below `root_fd` refusing any symlink on the way. -1 with errno on failure
/// (ELOOP for a symlink, EXDEV for an escape).
int open_beneath(int root_fd, const std::string& rel, int flags, mode_t mode = 0);

/// Create the directories of `rel` below `root_fd` (mode 0755, refusing symlinks); its fd.
int mkdirs_beneath(int root_fd, const std::string& rel);

/// Remove `name` in `dir_fd` and, if it is a directory, everything below it; never follows
/// a symlink. True when it is gone (or never existed).
bool remove_at(int dir_fd, const std::string& name);

/// Split "a/b/c" into "a/b" and "c" ("" and "c" for a top-level name).
std::pair<std::string, std::string> split_parent(const std::string& rel);

}  // namespace sbx::image
