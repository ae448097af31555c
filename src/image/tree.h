#pragma once
// Applying image layers to a directory tree: tar layers (plain, gzip, zstd) read with libarchive
// and written with its secure disk writer, plus OCI whiteouts (.wh.NAME) and opaque directories
// (.wh..wh..opq). Every path is checked beneath the tree's root without following symlinks, so a
// layer cannot write, link or delete through a symlink it (or a lower layer) planted.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <unordered_set>

#include "common/error.h"
#include "image/safe_fs.h"

namespace sbx::image {

/// Owner and mode of a tree entry as the layer said (kept when the builder cannot chown).
struct EntryMeta {
  unsigned uid = 0, gid = 0;
  unsigned mode = 0;  // full st_mode
};

/// What applying layers did.
struct TreeStats {
  std::uint64_t entries = 0, bytes = 0, whiteouts = 0, skipped_devices = 0;
};

/// Builds one tree from layers, in order.
class TreeBuilder {
 public:
  /// `root` must exist and be empty; `restore_owners` chowns (needs root), else owners are kept in meta().
  static Result<TreeBuilder> open(const std::filesystem::path& root, bool restore_owners, std::uint64_t max_bytes);

  /// Apply one layer read from `fd` (positioned at 0); `done` reports compressed bytes read.
  Result<void> apply(int fd, const std::string& display, const std::function<void(std::uint64_t)>& done = {});

  /// Owners and modes of every entry (only kept when not restoring owners).
  const std::map<std::string, EntryMeta>& meta() const { return meta_; }
  const TreeStats& stats() const { return stats_; }
  int root_fd() const { return root_.get(); }

 private:
  Result<void> whiteout(const std::string& parent, const std::string& name, const std::string& display);
  Result<void> opaque(const std::string& dir, const std::string& display);
  void clear_below(int dir_fd, const std::string& dir);
  void forget(const std::string& path);

  std::filesystem::path path_;
  Fd root_;
  bool restore_owners_ = false;
  std::uint64_t max_bytes_ = 0;
  std::unordered_set<std::string> this_layer_;
  std::map<std::string, EntryMeta> meta_;
  TreeStats stats_;
};

}  // namespace sbx::image
