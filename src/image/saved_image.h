#pragma once
// Saved images (`sbx save`, `[image] ref = "saved:NAME"`): the layers a sandbox's guest sent
// (its base root and its overlay's upper directory, saved_layer.h) built into a root disk like
// any other layered image and named in the cache's refs/ as "saved:NAME".
#include <filesystem>
#include <optional>
#include <string>

#include "common/error.h"
#include "image/image.h"

namespace sbx::image {

/// "saved:NAME", the reference of a saved image (and its refs/ key).
std::string saved_reference(const std::string& name);

/// The id the name points at now, if the image is still cached.
std::optional<std::string> saved_image_id(const std::filesystem::path& cache, const std::string& name);

/// The root disk of `[image] ref = "saved:NAME"` (`reference`): not_found with the fix when no
/// such image is saved.
Result<PreparedImage> prepare_saved_image(const std::string& reference, const ImportOptions& options = {});

/// What `sbx save` publishes.
struct SaveRequest {
  std::string name;                      // valid_saved_name
  std::filesystem::path base_layer;      // converted tars (saved_layer.h)
  std::filesystem::path upper_layer;
  ImageConfig config;                    // the base image's config (env, user, workdir, command)
  bool force = false;                    // replace an image already saved under the name
};

/// Build (or reuse: same layers, same config) the image and point "saved:NAME" at it. Refused
/// with the fix when the name is taken and !force; with force the old image loses the name
/// (`sbx image prune` or `sbx image rm` removes it).
Result<PreparedImage> publish_saved_image(const SaveRequest& request, const ImportOptions& options = {});

}  // namespace sbx::image
