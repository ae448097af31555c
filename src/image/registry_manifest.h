#pragma once
// Validation of manifests and manifest lists received from a registry (hostile input):
// media types, JSON shapes, digests and sizes, and the choice of a platform from a list.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace sbx::image::distribution {

inline constexpr std::uint64_t kMaxManifestBytes = 4u << 20;
inline constexpr std::uint64_t kMaxConfigBytes = 16u << 20;
inline constexpr std::uint64_t kMaxBlobBytes = 64ull << 30;

inline constexpr std::string_view kOciIndexType = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifestType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kDockerListType = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifestType = "application/vnd.docker.distribution.manifest.v2+json";

/// A content descriptor (and, in a list, the platform it is for).
struct Descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<64 hex>"
  std::uint64_t size = 0;
  std::string os, architecture, variant;
};

/// A checked manifest or manifest list.
struct Manifest {
  std::string media_type;
  bool is_list = false;
  std::vector<Descriptor> manifests;  // lists
  Descriptor config;                  // image manifests
  std::vector<Descriptor> layers;
};

/// "sha256:" + 64 lower-case hex.
bool is_sha256_digest(std::string_view digest);
/// Check `body` as a manifest or list; `content_type` is the response's Content-Type ("" if unknown).
Result<Manifest> parse_manifest(std::string_view body, std::string_view content_type, const std::string& what);
/// The entry of a list for os/architecture; an error lists the platforms there are.
Result<Descriptor> choose_platform(const Manifest& list, const std::string& os, const std::string& architecture,
                                   const std::string& what);

}  // namespace sbx::image::distribution
