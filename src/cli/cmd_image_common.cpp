#include "cli/cmd_image_common.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/paths.h"
#include "reconcile/sandboxes.h"

namespace sbx::cli::image_cmd {

Result<std::vector<image::CachedImage>> list() {
  std::vector<image::DiskUser> in_use;
  for (const auto& s : reconcile::list_sandboxes(paths::state_dir()))
    if (s.uses_images())
      for (const auto& d : s.root_disks) in_use.push_back({d, s.name});
  return image::list_images(paths::cache_dir(), in_use);
}

nlohmann::json to_json(const image::CachedImage& i) {
  return {{"id", i.id},
          {"format", i.format},
          {"references", i.references},
          {"root_disk", i.root_disk.string()},
          {"disk_bytes", i.disk_bytes},
          {"created_unix", i.created_unix},
          {"last_used_unix", i.last_used_unix},
          {"used_by", i.used_by}};
}

std::string short_id(const std::string& id) {
  const auto colon = id.find(':');
  return colon == std::string::npos ? id.substr(0, 12) : id.substr(0, colon + 1 + 12);
}

bool matches(const image::CachedImage& i, const std::string& word) {
  // References are recorded as given to sbx up: absolute paths for archives and directories.
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(word, ec).lexically_normal().string();
  for (const auto& r : i.references)
    if (r == word || r == absolute) return true;
  std::string hex = word;
  if (hex.starts_with("sha256:")) hex = hex.substr(7);
  else if (hex.starts_with("builtin:")) hex = hex.substr(8);
  if (hex.size() < 4) return false;
  const auto colon = i.id.find(':');
  const std::string own = colon == std::string::npos ? i.id : i.id.substr(colon + 1);
  return own.starts_with(hex);
}

}  // namespace sbx::cli::image_cmd
