#pragma once
// Where an image's files (index.json, manifest.json, blobs) are read from: an OCI layout
// directory as is, or an archive unpacked (regular files and directories only) into a staging
// directory. Member names are cleaned; the archive's symlinks (docker save writes some) are
// resolved lexically and may not leave the archive.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "common/error.h"
#include "image/safe_fs.h"

namespace sbx::image {

/// A read-only view of an image's files.
class Source {
 public:
  /// Use the directory as is.
  static Result<Source> from_directory(const std::filesystem::path& dir);
  /// Unpack the archive into `staging` (created; the caller removes it).
  static Result<Source> from_archive(const std::filesystem::path& archive, const std::filesystem::path& staging,
                                     std::uint64_t max_bytes);

  /// True when the member exists (after symlink resolution).
  bool exists(const std::string& member) const;
  /// Open a member for reading (a regular file).
  Result<Fd> open(const std::string& member) const;
  /// Read a whole member of at most `max` bytes.
  Result<std::string> read_small(const std::string& member, std::size_t max) const;
  /// For messages.
  const std::string& display() const { return display_; }

 private:
  Result<std::string> resolve(const std::string& member) const;
  Fd root_;
  std::map<std::string, std::string> links_;  // symlinks of an archive: member -> target as written
  std::string display_;
};

}  // namespace sbx::image
