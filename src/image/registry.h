#pragma once
// Pulls an image from an OCI distribution registry into a standard OCI image layout, verifying
// the digest and size of every manifest and blob before it is renamed into place.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::image {

/// Where a registry reference points: host[:port], repository, tag and/or digest pin.
struct RegistryRef {
  std::string host;                   // "registry-1.docker.io", "127.0.0.1:5000"
  std::string repository;             // "library/debian"
  std::string tag;                    // "" when only a digest is given
  std::optional<std::string> digest;  // "sha256:<64 hex>"
  /// "host/repository[:tag][@digest]".
  std::string str() const;
};

/// Parse a registry reference ("debian:12" is Docker Hub's registry-1.docker.io/library/debian:12).
Result<RegistryRef> parse_registry_ref(std::string_view text);
/// The RegistryRef of a config Image of kind registry (its digest pin included).
Result<RegistryRef> registry_ref_from_image(const config::Image& image);

/// User name and password for one registry host (Basic auth, or to obtain a Bearer token).
struct RegistryCredentials {
  std::string username;
  std::string password;
};

/// Credentials for `host`: SBX_REGISTRY_HOST + SBX_REGISTRY_USERNAME + SBX_REGISTRY_PASSWORD,
/// else the Docker-style auth file ($SBX_REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json).
Result<std::optional<RegistryCredentials>> lookup_registry_credentials(std::string_view host);

/// Whether `host` may be reached over plain http: loopback, or listed in SBX_INSECURE_REGISTRIES.
bool registry_allows_http(std::string_view host);

/// Progress of one blob being fetched: bytes done of total, the blob's position among those fetched.
struct PullProgress {
  std::string digest;
  std::uint64_t done = 0;
  std::uint64_t total = 0;
  std::size_t index = 0;  // 0-based
  std::size_t count = 0;
};

/// How to pull.
struct PullOptions {
  /// Called after each chunk of a blob (and once at 0 and at the end of each).
  std::function<void(const PullProgress&)> progress;
  /// The platform chosen from a manifest list / OCI index.
  std::string os = "linux";
  std::string architecture = "amd64";
  /// Overrides lookup_registry_credentials() when set.
  std::optional<RegistryCredentials> credentials;
};

/// What a pull produced.
struct PullResult {
  std::string manifest_digest;  // the image manifest named by index.json
  std::string manifest_media_type;
  std::string index_digest;  // the manifest list / OCI index the reference named, "" if none
  std::string config_digest;
  std::uint64_t bytes_fetched = 0;
  std::uint64_t bytes_reused = 0;
};

/// Pull `ref` into the OCI image layout `layout_dir` (created if missing): oci-layout, index.json
/// naming the chosen platform's manifest, blobs/sha256/<hex>. Blobs already there are re-hashed and
/// reused. On failure no temporary file, unverified blob or new index.json is left behind.
Result<PullResult> pull_to_layout(const RegistryRef& ref, const std::filesystem::path& layout_dir,
                                  const PullOptions& options = {});

}  // namespace sbx::image
