#pragma once
// The layers of `sbx save`: a tar stream the sandbox's guest sends (its overlay's upper
// directory, or its read-only root) rewritten into a clean layer tar the image builder applies.
// The stream is hostile: every entry is checked and bounded; overlayfs whiteouts (character
// device 0:0) become OCI whiteouts (.wh.NAME), opaque directories get .wh..wh..opq.
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace sbx::image {

/// Where the guest agent keeps its root overlay's parts (guest/agent/boot.cpp switch_root).
inline constexpr std::string_view kGuestUpperDir = "/run/rw/upper";
inline constexpr std::string_view kGuestLowerDir = "/run/lower";

/// What one layer may hold, whatever the guest sends.
struct LayerBudget {
  std::uint64_t max_bytes = std::uint64_t(4) << 30;  // file contents, in total
  std::uint64_t max_entries = 200000;                // entries written
};

/// Which of the guest's trees a stream is.
enum class GuestTree {
  upper,  // the overlay's upper directory: whiteouts and opaque directories are converted
  base,   // the read-only root the sandbox booted from: no whiteouts
};

/// What a conversion wrote.
struct LayerStats {
  std::uint64_t entries = 0, files = 0, dirs = 0, symlinks = 0, hardlinks = 0, bytes = 0;
  std::uint64_t whiteouts = 0, opaque_dirs = 0;
  std::vector<std::string> skipped;  // entries left out, with why (devices, fifos)
};

/// Read the guest's tar stream on `in_fd` and write a layer tar (pax) to `out_fd`. Kept: regular
/// files, directories, symlinks (as they are) and hard links to an entry written before, with
/// their owners (numeric), permission bits (set-uid and set-gid included: they act only inside a
/// guest) and mtimes; names lose a leading "./". Dropped: extended attributes and ACLs (the
/// upper directory's trusted.overlay.* among them), owner names. Skipped and listed: devices
/// (other than an upper's whiteouts) and fifos. Refused, naming the entry: absolute paths, '..',
/// control characters, names of 256 bytes or more per component, a name starting with ".wh."
/// (the builder would take it for a whiteout), a hard link to anything not written before, more
/// than the budget. In an upper tree, a character device 0:0 becomes an empty `.wh.NAME` file and
/// each directory in `opaque_dirs` (cleaned relative paths, "" for the root) gets a
/// `.wh..wh..opq` entry after it.
Result<LayerStats> convert_guest_tar(int in_fd, int out_fd, GuestTree tree, const std::set<std::string>& opaque_dirs,
                                     const LayerBudget& budget = {});

/// The guest's list of opaque directories (one path per line, relative to the upper directory,
/// as `find .` prints them): cleaned; lines that are not safe relative paths are dropped, and at
/// most 100000 are kept.
std::set<std::string> parse_opaque_list(std::string_view text);

/// The shell script (run as root in the guest, POSIX sh and find) that syncs and prints the upper
/// directory's opaque directories: a directory of the upper that also exists in the lower root
/// and hides a lower entry for which the upper holds no whiteout.
std::string opaque_list_script();

}  // namespace sbx::image
