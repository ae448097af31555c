// Registry references: the grammar lives in config/image_ref.cpp; here they are split into
// host, repository, tag and digest, with Docker Hub's API host substituted.
#include <cstdlib>

#include "config/image_ref.h"
#include "image/registry.h"

namespace sbx::image {

namespace {
// Docker Hub's references say docker.io; its distribution API is served elsewhere.
std::string api_host(std::string host) {
  if (host == "docker.io" || host == "index.docker.io") return "registry-1.docker.io";
  return host;
}
}  // namespace

std::string RegistryRef::str() const {
  std::string out = host + "/" + repository;
  if (!tag.empty()) out += ":" + tag;
  if (digest) out += "@" + *digest;
  return out;
}

Result<RegistryRef> registry_ref_from_image(const config::Image& image) {
  if (image.kind != config::ImageKind::registry)
    return fail(ErrorCode::invalid, "image '" + image.reference + "' is not a registry reference");
  // reference is "host/path[:tag]" (normalised by the config loader); the tag follows the last ':'
  // after the last '/', so a port is never mistaken for one.
  const std::string& r = image.reference;
  const auto slash = r.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= r.size())
    return fail(ErrorCode::invalid, "registry reference '" + r.substr(0, 120) + "' has no registry host");
  RegistryRef ref;
  ref.host = api_host(r.substr(0, slash));
  std::string rest = r.substr(slash + 1);
  const auto last_slash = rest.rfind('/');
  const auto colon = rest.rfind(':');
  if (colon != std::string::npos && (last_slash == std::string::npos || colon > last_slash)) {
    ref.tag = rest.substr(colon + 1);
    rest.resize(colon);
  }
  ref.repository = rest;
  if (image.digest) ref.digest = SBX_TRY(config::parse_digest(*image.digest));
  if (ref.repository.empty() || (ref.tag.empty() && !ref.digest))
    return fail(ErrorCode::invalid, "registry reference '" + r.substr(0, 120) + "' names no repository and tag or digest");
  return ref;
}

Result<RegistryRef> parse_registry_ref(std::string_view text) {
  const config::Image image = SBX_TRY(config::parse_image_ref(text, "/"));
  if (image.kind != config::ImageKind::registry)
    return fail(ErrorCode::invalid, "'" + std::string(text.substr(0, 120)) + "' is not a registry reference",
                "write host/name:tag or host/name@sha256:<hex>, e.g. 127.0.0.1:5000/app:1 or debian:12");
  return registry_ref_from_image(image);
}

}  // namespace sbx::image
