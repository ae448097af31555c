#pragma once
// Shared by sbx image ls/rm/prune: the cached images with their users, and their rendering.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/error.h"
#include "image/cache.h"

namespace sbx::cli::image_cmd {

/// Every cached image, with the running sandboxes that use each.
Result<std::vector<image::CachedImage>> list();
/// The JSON form of one image.
nlohmann::json to_json(const image::CachedImage& i);
/// "sha256:0123456789ab" (the short id people type).
std::string short_id(const std::string& id);
/// Does `word` name `i`: a full or >= 4-hex-digit prefix of its id (with or without "sha256:"),
/// or one of its references?
bool matches(const image::CachedImage& i, const std::string& word);

}  // namespace sbx::cli::image_cmd
