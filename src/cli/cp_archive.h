#pragma once
// The host side of `sbx cp`: a tar stream written from a host file or tree (no symlink inside it
// followed), and a tar stream from the guest extracted under a destination directory with every
// entry treated as hostile (see extract_tar).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"

namespace sbx::cli {

/// What one extraction may create, whatever the guest sends (documented in `sbx cp --help`).
struct ExtractBudget {
  std::uint64_t max_bytes = std::uint64_t(4) << 30;  // file contents, in total
  std::uint64_t max_entries = 200000;                // files, directories and symlinks
};

/// What was copied.
struct CopyCount {
  std::uint64_t files = 0, dirs = 0, symlinks = 0, bytes = 0;
  std::vector<std::string> skipped;  // entries left out, with why (host->guest: sockets, devices)
};

/// Extract the tar stream on `in_fd` under the directory `dest_fd`. Every entry's path must start
/// with the component `top` (what the guest was asked to send), which lands as `as`. Refused, and
/// the extraction stopped with an error naming the entry: absolute paths, '..' components, an
/// entry whose parent is not a directory it created or found (a symlink on the way is never
/// followed: openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), hard links, devices, fifos and sockets,
/// more than the budget. Files and directories get the entry's permission bits without set-uid,
/// set-gid and sticky; an existing non-directory in the way is replaced, never written through;
/// symlinks are created as they are, never followed.
Result<CopyCount> extract_tar(int in_fd, int dest_fd, const std::string& top, const std::string& as,
                              const ExtractBudget& budget = {});

/// Write a tar stream of `src` (a file or directory; a symlink named by `src` itself is followed,
/// as the user named it) to `out_fd`, its top entry named `as`. Inside a directory nothing is
/// followed: symlinks go as symlinks; devices, fifos and sockets are skipped (listed).
Result<CopyCount> pack_tar(int out_fd, const std::filesystem::path& src, const std::string& as);

}  // namespace sbx::cli
