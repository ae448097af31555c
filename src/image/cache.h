#pragma once
// The image cache: paths::cache_dir()/images/sha256-<hex>/{rootfs.ext4,image.json}, one per
// image digest, plus refs/ (what a path or reference last resolved to) for fast reuse, and the
// questions `sbx image ls/rm/prune` ask (size, references, which running sandbox uses what).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "image/image.h"

namespace sbx::image {

/// One cached image as `sbx image ls` shows it.
struct CachedImage {
  std::string id;                        // "sha256:<hex>", or "builtin:<digest>" for the default image
  std::string format;                    // "oci", "docker-save", "rootfs", "builtin"
  std::vector<std::string> references;   // paths or registry references it came from
  std::filesystem::path root_disk;
  std::filesystem::path dir;             // what rm deletes (the disk itself for builtin)
  std::uint64_t disk_bytes = 0;          // space used on the host
  std::int64_t created_unix = 0;
  std::int64_t last_used_unix = 0;
  std::vector<std::string> used_by;      // running sandboxes
};

/// <cache>/images.
std::filesystem::path images_dir(const std::filesystem::path& cache);
/// <cache>/images/sha256-<hex> for "sha256:<hex>".
std::filesystem::path image_dir(const std::filesystem::path& cache, const std::string& id);

/// The cached image `id`, if its disk and record are complete.
std::optional<PreparedImage> lookup(const std::filesystem::path& cache, const std::string& id);
/// Record an image whose rootfs.ext4 is in place; adds `reference` to its list.
Result<void> write_record(const std::filesystem::path& cache, const std::string& id, const std::string& format,
                          const std::string& reference, const ImageConfig& config);
/// Touch the record's last-used time and add `reference` (best effort).
void note_use(const std::filesystem::path& cache, const std::string& id, const std::string& reference);

/// Drop `reference` from the record of `id` (a saved name moved to another image; best effort).
void forget_reference(const std::filesystem::path& cache, const std::string& id, const std::string& reference);

/// A fast-reuse entry: `key` (a path plus its stat, or a registry reference) -> image id.
struct RefEntry {
  std::string id;
  std::string file_sha256;   // "sha256:<hex>" of an archive, when it was hashed
};
std::optional<RefEntry> read_ref(const std::filesystem::path& cache, const std::string& key);
void write_ref(const std::filesystem::path& cache, const std::string& key, const RefEntry& entry);

/// A root disk a sandbox uses now, and the sandbox's name (reconcile::list_sandboxes finds them).
struct DiskUser {
  std::filesystem::path disk;
  std::string sandbox;
};

/// Every cached image, with the sandboxes of `in_use` that use each.
Result<std::vector<CachedImage>> list_images(const std::filesystem::path& cache, const std::vector<DiskUser>& in_use);

/// Delete one cached image (its directory, or the builtin disk) and refs pointing at it.
Result<void> remove_image(const std::filesystem::path& cache, const CachedImage& image);

/// ImageConfig <-> JSON (image.json).
std::string config_to_json(const ImageConfig& c);

}  // namespace sbx::image
