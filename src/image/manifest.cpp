#include "image/manifest.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "guest/protocol/user.h"

namespace sbx::image {
namespace {
using json = nlohmann::json;

constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr std::size_t kMaxEnv = 4096;
constexpr std::size_t kMaxArgs = 4096;
constexpr std::size_t kMaxString = 32768;

bool is_index_type(std::string_view t) { return t == kOciIndex || t == kDockerList; }
bool is_manifest_type(std::string_view t) { return t == kOciManifest || t == kDockerManifest; }

bool known_layer_type(std::string_view t) {
  static constexpr std::string_view kTypes[] = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.diff.tar",
  };
  return std::find(std::begin(kTypes), std::end(kTypes), t) != std::end(kTypes);
}

Result<json> parse_json(std::string_view text, const std::string& what) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return fail(ErrorCode::invalid, what + " is not valid JSON", "the image is corrupt");
  if (!j.is_object() && !j.is_array()) return fail(ErrorCode::invalid, what + " is not a JSON object");
  return j;
}

Result<std::string> string_field(const json& j, const char* key, const std::string& what, bool required = true) {
  if (!j.is_object() || !j.contains(key)) {
    if (required) return fail(ErrorCode::invalid, what + " has no \"" + key + "\"");
    return std::string();
  }
  const json& v = j[key];
  if (v.is_null() && !required) return std::string();
  if (!v.is_string()) return fail(ErrorCode::invalid, what + ": \"" + key + "\" is not a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > kMaxString) return fail(ErrorCode::invalid, what + ": \"" + key + "\" is too long");
  return s;
}

Result<std::vector<std::string>> string_list(const json& j, const char* key, const std::string& what, std::size_t max) {
  std::vector<std::string> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  const json& v = j[key];
  if (!v.is_array()) return fail(ErrorCode::invalid, what + ": \"" + key + "\" is not a list of strings");
  if (v.size() > max) return fail(ErrorCode::invalid, what + ": \"" + key + "\" has too many entries");
  for (const auto& e : v) {
    if (!e.is_string()) return fail(ErrorCode::invalid, what + ": \"" + key + "\" holds a non-string");
    const auto& s = e.get_ref<const std::string&>();
    if (s.size() > kMaxString || s.find('\0') != std::string::npos)
      return fail(ErrorCode::invalid, what + ": an entry of \"" + key + "\" is too long or holds NUL");
    out.push_back(s);
  }
  return out;
}

struct Desc {
  std::string media_type, digest;
  std::uint64_t size = 0;
  std::string os, arch;
  bool has_platform = false;
};

Result<Desc> descriptor(const json& j, const std::string& what) {
  if (!j.is_object()) return fail(ErrorCode::invalid, what + ": a descriptor is not an object");
  Desc d;
  d.media_type = SBX_TRY(string_field(j, "mediaType", what, false));
  d.digest = SBX_TRY(string_field(j, "digest", what));
  if (!valid_digest(d.digest))
    return fail(ErrorCode::invalid, what + ": unsupported or malformed digest '" + d.digest.substr(0, 80) + "'",
                "sbx accepts sha256 digests only");
  if (!j.contains("size") || !j["size"].is_number_unsigned())
    return fail(ErrorCode::invalid, what + ": a descriptor has no valid \"size\"");
  d.size = j["size"].get<std::uint64_t>();
  if (j.contains("platform") && j["platform"].is_object()) {
    d.has_platform = true;
    d.os = SBX_TRY(string_field(j["platform"], "os", what, false));
    d.arch = SBX_TRY(string_field(j["platform"], "architecture", what, false));
  }
  return d;
}

std::string blob_member(const std::string& digest) { return "blobs/sha256/" + digest.substr(7); }

// A blob's bytes, checked against its descriptor's size and digest.
Result<std::string> read_blob(const Source& src, const Desc& d, const std::string& what) {
  if (d.size > kMaxMetadataBytes) return fail(ErrorCode::invalid, what + " is larger than " + std::to_string(kMaxMetadataBytes) + " bytes");
  std::string bytes = SBX_TRY(src.read_small(blob_member(d.digest), kMaxMetadataBytes));
  if (bytes.size() != d.size)
    return fail(ErrorCode::invalid, what + " " + d.digest + " has " + std::to_string(bytes.size()) + " bytes, its descriptor says " + std::to_string(d.size),
                "the image is corrupt or was tampered with");
  if (digest::sha256(bytes) != d.digest)
    return fail(ErrorCode::invalid, what + " does not match its digest " + d.digest, "the image is corrupt or was tampered with");
  return bytes;
}

// Pick the manifest for our platform from an index (following nested indexes twice at most).
Result<Desc> choose_manifest(const Source& src, const json& index, const std::string& what, const ImportOptions& o, int depth) {
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
    return fail(ErrorCode::invalid, what + " has no \"manifests\" list");
  const json& list = index["manifests"];
  if (list.empty()) return fail(ErrorCode::invalid, what + " names no manifest");
  if (list.size() > 1024) return fail(ErrorCode::invalid, what + " names too many manifests");
  std::vector<Desc> all;
  for (const auto& m : list) all.push_back(SBX_TRY(descriptor(m, what)));
  std::vector<Desc> fit;
  std::string seen;
  for (const auto& d : all) {
    if (!d.has_platform) continue;
    seen += (seen.empty() ? "" : ", ") + d.os + "/" + d.arch;
    if (d.os == o.os && d.arch == o.architecture) fit.push_back(d);
  }
  if (fit.empty()) {
    std::vector<Desc> untagged;
    for (const auto& d : all)
      if (!d.has_platform) untagged.push_back(d);
    if (untagged.size() == 1) fit = untagged;
    else if (untagged.size() > 1)
      return fail(ErrorCode::invalid, what + " names " + std::to_string(untagged.size()) + " images and no platforms",
                  "save or pull a single image");
    else
      return fail(ErrorCode::invalid, what + " has no " + o.os + "/" + o.architecture + " image (it has: " + seen + ")",
                  "use an image built for " + o.os + "/" + o.architecture);
  }
  const Desc& d = fit.front();
  if (is_index_type(d.media_type)) {
    if (depth >= 2) return fail(ErrorCode::invalid, what + ": indexes nested too deeply");
    const std::string bytes = SBX_TRY(read_blob(src, d, "nested index"));
    const json nested = SBX_TRY(parse_json(bytes, "nested index " + d.digest));
    return choose_manifest(src, nested, "index " + d.digest, o, depth + 1);
  }
  if (!d.media_type.empty() && !is_manifest_type(d.media_type))
    return fail(ErrorCode::invalid, what + ": unsupported manifest type '" + d.media_type.substr(0, 100) + "'");
  return d;
}

Result<ImagePlan> read_oci(const Source& src, const ImportOptions& o) {
  const std::string index_text = SBX_TRY(src.read_small("index.json", kMaxMetadataBytes));
  const json index = SBX_TRY(parse_json(index_text, "index.json"));
  const Desc md = SBX_TRY(choose_manifest(src, index, "index.json", o, 0));
  const std::string manifest_text = SBX_TRY(read_blob(src, md, "manifest"));
  const json manifest = SBX_TRY(parse_json(manifest_text, "manifest " + md.digest));
  const std::string mt = SBX_TRY(string_field(manifest, "mediaType", "manifest", false));
  if (!mt.empty() && !is_manifest_type(mt))
    return fail(ErrorCode::invalid, "manifest " + md.digest + " has unsupported type '" + mt.substr(0, 100) + "'");
  if (!manifest.contains("config") || !manifest.contains("layers") || !manifest["layers"].is_array())
    return fail(ErrorCode::invalid, "manifest " + md.digest + " has no config or layers");
  const Desc cd = SBX_TRY(descriptor(manifest["config"], "manifest config"));
  const std::string config_text = SBX_TRY(read_blob(src, cd, "image config"));
  ImagePlan plan;
  plan.id = md.digest;
  plan.format = "oci";
  std::vector<std::string> diff_ids;
  plan.config = SBX_TRY(parse_image_config(config_text, "image config " + cd.digest, o, diff_ids));
  const json& layers = manifest["layers"];
  if (layers.size() > kMaxLayers) return fail(ErrorCode::invalid, "the image has more than " + std::to_string(kMaxLayers) + " layers");
  if (!diff_ids.empty() && diff_ids.size() != layers.size())
    return fail(ErrorCode::invalid, "the image config lists " + std::to_string(diff_ids.size()) + " layers, the manifest " + std::to_string(layers.size()));
  for (const auto& l : layers) {
    const Desc ld = SBX_TRY(descriptor(l, "manifest layer"));
    if (!known_layer_type(ld.media_type))
      return fail(ErrorCode::invalid, "unsupported layer type '" + ld.media_type.substr(0, 100) + "'",
                  "sbx applies tar layers (uncompressed, gzip or zstd); non-distributable layers are not supported");
    plan.layers.push_back({blob_member(ld.digest), ld.digest, ld.size, ld.media_type});
  }
  return plan;
}

Result<ImagePlan> read_docker(const Source& src, const ImportOptions& o) {
  const std::string text = SBX_TRY(src.read_small("manifest.json", kMaxMetadataBytes));
  const json top = SBX_TRY(parse_json(text, "manifest.json"));
  if (!top.is_array() || top.empty()) return fail(ErrorCode::invalid, "manifest.json is not a non-empty list");
  if (top.size() > 1)
    return fail(ErrorCode::invalid, "the archive holds " + std::to_string(top.size()) + " images",
                "save a single image: docker save -o image.tar NAME:TAG");
  const json& m = top[0];
  const std::string config_member = SBX_TRY(string_field(m, "Config", "manifest.json"));
  auto layers = SBX_TRY(string_list(m, "Layers", "manifest.json", kMaxLayers));
  const std::string config_text = SBX_TRY(src.read_small(config_member, kMaxMetadataBytes));
  ImagePlan plan;
  plan.format = "docker-save";
  // Docker's image ID is the digest of its config; the config binds the layers by diff_id.
  plan.id = digest::sha256(config_text);
  std::vector<std::string> diff_ids;
  plan.config = SBX_TRY(parse_image_config(config_text, "image config " + config_member, o, diff_ids));
  if (diff_ids.size() != layers.size())
    return fail(ErrorCode::invalid, "the image config lists " + std::to_string(diff_ids.size()) + " layers, manifest.json " + std::to_string(layers.size()),
                "the archive is corrupt");
  for (std::size_t i = 0; i < layers.size(); ++i) plan.layers.push_back({layers[i], diff_ids[i], 0, ""});
  return plan;
}

}  // namespace

bool valid_user_spec(std::string_view user) { return guest::protocol::valid_user_spec(user); }

bool valid_digest(std::string_view d) {
  return d.size() == 71 && d.starts_with("sha256:") &&
         std::all_of(d.begin() + 7, d.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<ImageConfig> parse_image_config(std::string_view text, const std::string& what, const ImportOptions& o,
                                       std::vector<std::string>& diff_ids) {
  const json j = SBX_TRY(parse_json(text, what));
  if (!j.is_object()) return fail(ErrorCode::invalid, what + " is not a JSON object");
  const std::string os = SBX_TRY(string_field(j, "os", what, false));
  const std::string arch = SBX_TRY(string_field(j, "architecture", what, false));
  if (!os.empty() && os != o.os)
    return fail(ErrorCode::invalid, "the image is for " + os + ", not " + o.os, "use a " + o.os + "/" + o.architecture + " image");
  if (!arch.empty() && arch != o.architecture)
    return fail(ErrorCode::invalid, "the image is for " + arch + ", not " + o.architecture,
                "use a " + o.os + "/" + o.architecture + " image");
  if (!j.contains("rootfs") || !j["rootfs"].is_object())
    return fail(ErrorCode::invalid, what + " has no \"rootfs\"");
  diff_ids = SBX_TRY(string_list(j["rootfs"], "diff_ids", what + " rootfs", kMaxLayers));
  for (const auto& d : diff_ids)
    if (!valid_digest(d)) return fail(ErrorCode::invalid, what + ": malformed diff_id '" + d.substr(0, 80) + "'");
  ImageConfig c;
  if (j.contains("config") && !j["config"].is_null()) {
    const json& cfg = j["config"];
    if (!cfg.is_object()) return fail(ErrorCode::invalid, what + ": \"config\" is not an object");
    c.env = SBX_TRY(string_list(cfg, "Env", what, kMaxEnv));
    for (const auto& e : c.env) {
      const auto eq = e.find('=');
      if (eq == 0 || eq == std::string::npos)
        return fail(ErrorCode::invalid, what + ": Env entry '" + e.substr(0, 80) + "' is not NAME=VALUE");
    }
    c.working_dir = SBX_TRY(string_field(cfg, "WorkingDir", what, false));
    if (!c.working_dir.empty() && c.working_dir.front() != '/')
      return fail(ErrorCode::invalid, what + ": WorkingDir '" + c.working_dir.substr(0, 80) + "' is not absolute");
    c.user = SBX_TRY(string_field(cfg, "User", what, false));
    c.entrypoint = SBX_TRY(string_list(cfg, "Entrypoint", what, kMaxArgs));
    c.cmd = SBX_TRY(string_list(cfg, "Cmd", what, kMaxArgs));
  }
  return c;
}

Result<ImagePlan> read_plan(const Source& source, const ImportOptions& options) {
  if (source.exists("index.json") && source.exists("oci-layout")) {
    const std::string layout = SBX_TRY(source.read_small("oci-layout", 4096));
    const json l = SBX_TRY(parse_json(layout, "oci-layout"));
    const std::string v = SBX_TRY(string_field(l, "imageLayoutVersion", "oci-layout"));
    if (v != "1.0.0") return fail(ErrorCode::invalid, "unsupported OCI layout version '" + v.substr(0, 40) + "'");
    return read_oci(source, options);
  }
  if (source.exists("manifest.json")) return read_docker(source, options);
  return fail(ErrorCode::invalid, source.display() + " is neither an OCI image layout nor a docker save archive",
              "an OCI layout has oci-layout and index.json; docker save writes manifest.json");
}

}  // namespace sbx::image
