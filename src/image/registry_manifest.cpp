#include "image/registry_manifest.h"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

namespace sbx::image::distribution {

namespace {
using nlohmann::json;

constexpr std::size_t kMaxLayers = 512;
constexpr std::size_t kMaxListEntries = 256;

constexpr std::array kConfigTypes = {std::string_view("application/vnd.docker.container.image.v1+json"),
                                     std::string_view("application/vnd.oci.image.config.v1+json")};
constexpr std::array kLayerTypes = {std::string_view("application/vnd.docker.image.rootfs.diff.tar.gzip"),
                                    std::string_view("application/vnd.oci.image.layer.v1.tar"),
                                    std::string_view("application/vnd.oci.image.layer.v1.tar+gzip"),
                                    std::string_view("application/vnd.oci.image.layer.v1.tar+zstd")};

template <std::size_t N>
bool one_of(std::string_view v, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 100)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

Result<Descriptor> parse_descriptor(const json& j, const std::string& what, const std::string& field, std::uint64_t max_size) {
  if (!j.is_object()) return fail(ErrorCode::runtime, what + ": " + field + " is not a JSON object");
  Descriptor d;
  auto mt = j.find("mediaType");
  auto dg = j.find("digest");
  auto sz = j.find("size");
  if (mt == j.end() || !mt->is_string()) return fail(ErrorCode::runtime, what + ": " + field + " has no mediaType string");
  if (dg == j.end() || !dg->is_string()) return fail(ErrorCode::runtime, what + ": " + field + " has no digest string");
  if (sz == j.end() || !sz->is_number_unsigned()) return fail(ErrorCode::runtime, what + ": " + field + " has no non-negative integer size");
  d.media_type = mt->get<std::string>();
  d.digest = dg->get<std::string>();
  d.size = sz->get<std::uint64_t>();
  if (!is_sha256_digest(d.digest))
    return fail(ErrorCode::runtime, what + ": " + field + " has digest '" + printable(d.digest) + "'",
                "sbx verifies sha256 digests only (\"sha256:\" + 64 lower-case hex)");
  if (d.size > max_size)
    return fail(ErrorCode::runtime, what + ": " + field + " " + d.digest + " claims " + std::to_string(d.size) +
                                        " bytes, more than the limit of " + std::to_string(max_size));
  if (auto urls = j.find("urls"); urls != j.end())
    return fail(ErrorCode::runtime, what + ": " + field + " " + d.digest + " must be fetched from external URLs",
                "foreign (non-distributable) layers are not supported: sbx only fetches blobs from the registry itself");
  if (auto p = j.find("platform"); p != j.end()) {
    if (!p->is_object()) return fail(ErrorCode::runtime, what + ": " + field + " has a platform that is not an object");
    for (auto [key, out] : {std::pair{"os", &d.os}, std::pair{"architecture", &d.architecture}, std::pair{"variant", &d.variant}})
      if (auto v = p->find(key); v != p->end() && v->is_string()) *out = v->get<std::string>();
  }
  return d;
}
}  // namespace

bool is_sha256_digest(std::string_view d) {
  return d.size() == 71 && d.starts_with("sha256:") &&
         std::all_of(d.begin() + 7, d.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<Manifest> parse_manifest(std::string_view body, std::string_view content_type, const std::string& what) {
  std::string ct(content_type.substr(0, content_type.find(';')));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return fail(ErrorCode::runtime, what + " is not a JSON object");
  auto sv = doc.find("schemaVersion");
  if (sv == doc.end() || !sv->is_number_integer() || sv->get<long>() != 2) {
    if (sv != doc.end() && sv->is_number_integer() && sv->get<long>() == 1)
      return fail(ErrorCode::runtime, what + " is a Docker schema 1 manifest",
                  "schema 1 images are deprecated and unsigned here; push the image again with a current docker or skopeo");
    return fail(ErrorCode::runtime, what + " has no schemaVersion 2");
  }
  std::string media_type;
  if (auto mt = doc.find("mediaType"); mt != doc.end()) {
    if (!mt->is_string()) return fail(ErrorCode::runtime, what + ": mediaType is not a string");
    media_type = mt->get<std::string>();
  }
  const bool typed_header = ct == kOciIndexType || ct == kOciManifestType || ct == kDockerListType || ct == kDockerManifestType;
  if (typed_header && !media_type.empty() && media_type != ct)
    return fail(ErrorCode::runtime, what + " says mediaType " + printable(media_type) + " but was served as " + printable(ct),
                "the registry's answer is inconsistent; refusing it");
  if (media_type.empty()) media_type = typed_header ? ct : std::string(doc.contains("manifests") ? kOciIndexType : kOciManifestType);
  Manifest m;
  m.media_type = media_type;
  if (media_type == kOciIndexType || media_type == kDockerListType) {
    m.is_list = true;
    auto list = doc.find("manifests");
    if (list == doc.end() || !list->is_array()) return fail(ErrorCode::runtime, what + ": \"manifests\" is not an array");
    if (list->size() > kMaxListEntries) return fail(ErrorCode::runtime, what + " lists more than 256 manifests");
    std::size_t i = 0;
    for (const auto& entry : *list)
      m.manifests.push_back(SBX_TRY(parse_descriptor(entry, what, "manifests[" + std::to_string(i++) + "]", kMaxManifestBytes)));
    return m;
  }
  if (media_type != kOciManifestType && media_type != kDockerManifestType)
    return fail(ErrorCode::runtime, what + " has unsupported media type '" + printable(media_type) + "'",
                "sbx pulls OCI and Docker v2 image manifests and manifest lists");
  auto cfg = doc.find("config");
  if (cfg == doc.end()) return fail(ErrorCode::runtime, what + " has no config");
  m.config = SBX_TRY(parse_descriptor(*cfg, what, "config", kMaxConfigBytes));
  if (!one_of(m.config.media_type, kConfigTypes))
    return fail(ErrorCode::runtime, what + ": config has media type '" + printable(m.config.media_type) + "'",
                "this is not a container image (an artifact such as a Helm chart or signature?)");
  auto layers = doc.find("layers");
  if (layers == doc.end() || !layers->is_array()) return fail(ErrorCode::runtime, what + ": \"layers\" is not an array");
  if (layers->size() > kMaxLayers) return fail(ErrorCode::runtime, what + " has more than 512 layers");
  std::size_t i = 0;
  for (const auto& entry : *layers) {
    Descriptor d = SBX_TRY(parse_descriptor(entry, what, "layers[" + std::to_string(i++) + "]", kMaxBlobBytes));
    if (!one_of(d.media_type, kLayerTypes))
      return fail(ErrorCode::runtime, what + ": layer " + d.digest + " has media type '" + printable(d.media_type) + "'",
                  d.media_type.find("foreign") != std::string::npos || d.media_type.find("nondistributable") != std::string::npos
                      ? "foreign (non-distributable) layers are not supported"
                      : "sbx unpacks tar layers (plain, gzip or zstd)");
    m.layers.push_back(std::move(d));
  }
  return m;
}

Result<Descriptor> choose_platform(const Manifest& list, const std::string& os, const std::string& architecture,
                                   const std::string& what) {
  std::string seen;
  for (const auto& d : list.manifests) {
    if (d.os == os && d.architecture == architecture) {
      if (d.media_type != kOciManifestType && d.media_type != kDockerManifestType)
        return fail(ErrorCode::runtime, what + ": the " + os + "/" + architecture + " entry is not an image manifest ('" +
                                            printable(d.media_type) + "')");
      return d;
    }
    if (!d.os.empty()) seen += (seen.empty() ? "" : ", ") + printable(d.os) + "/" + printable(d.architecture);
  }
  return fail(ErrorCode::not_found, what + " has no " + os + "/" + architecture + " image",
              seen.empty() ? "the list names no platforms" : "it has: " + seen);
}

}  // namespace sbx::image::distribution
