#pragma once
// Reading an image's metadata with strict validation: an OCI layout's index.json (nested
// indexes, platform choice), OCI or Docker v2 manifests, a `docker save` manifest.json, and the
// image config. Every manifest and config is size-bounded and digest-checked.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "image/image.h"
#include "image/source.h"

namespace sbx::image {

/// One layer to apply: where its blob is and what it must hash to.
struct LayerRef {
  std::string member;       // path inside the source
  std::string digest;       // "sha256:<hex>" of the blob's bytes as stored
  std::uint64_t size = 0;   // expected size, 0 when the format does not say (docker save)
  std::string media_type;   // "" for docker save layers
};

/// Everything needed to build the tree.
struct ImagePlan {
  std::string id;           // "sha256:<hex>"
  std::string format;       // "oci" or "docker-save"
  ImageConfig config;
  std::vector<LayerRef> layers;
};

/// Bounds on metadata.
inline constexpr std::size_t kMaxMetadataBytes = 4u << 20;
inline constexpr std::size_t kMaxLayers = 256;

/// Read the plan of an OCI layout (index.json) or a docker save archive (manifest.json).
Result<ImagePlan> read_plan(const Source& source, const ImportOptions& options);

/// Parse an image config; `diff_ids` receives rootfs.diff_ids.
Result<ImageConfig> parse_image_config(std::string_view json, const std::string& display, const ImportOptions& options,
                                       std::vector<std::string>& diff_ids);

/// True for "sha256:" + 64 lower-case hex digits.
bool valid_digest(std::string_view d);

}  // namespace sbx::image
