// pull_to_layout: manifest (list) -> platform manifest -> config -> layers, each verified by
// digest and size while streaming into a temporary file, renamed into blobs/sha256 only when right.
#include "image/registry.h"

#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/digest.h"
#include "common/log.h"
#include "image/registry_client.h"
#include "image/registry_manifest.h"

namespace sbx::image {

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace distribution;

constexpr int kBlobAttempts = 3;

std::string hex_of(const std::string& digest) { return digest.substr(7); }

std::string registry_message(const std::string& body) {
  const json doc = json::parse(body, nullptr, false);
  std::string out;
  if (doc.is_object())
    if (auto errors = doc.find("errors"); errors != doc.end() && errors->is_array() && !errors->empty() && (*errors)[0].is_object()) {
      const json& e = (*errors)[0];
      if (auto c = e.find("code"); c != e.end() && c->is_string()) out += c->get<std::string>();
      if (auto m = e.find("message"); m != e.end() && m->is_string()) out += (out.empty() ? "" : ": ") + m->get<std::string>();
    }
  std::string clean;
  for (char c : out.substr(0, 200)) clean += (c >= 0x20 && c < 0x7f) ? c : '?';
  return clean.empty() ? "" : " (" + clean + ")";
}

// Blobs stream into blobs/sha256/.partial-* and are renamed into place only when verified.
constexpr std::string_view kPartialPrefix = ".partial-";

class Layout {
 public:
  explicit Layout(fs::path root) : root_(std::move(root)), blobs_(root_ / "blobs" / "sha256") {}

  Result<void> prepare() {
    std::error_code ec;
    fs::create_directories(blobs_, ec);
    if (ec) return fail(ErrorCode::io, "cannot create " + blobs_.string() + ": " + ec.message());
    if (!fs::exists(root_ / "oci-layout", ec)) SBX_TRY_VOID(write_file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})" "\n"));
    return {};
  }

  fs::path blob(const std::string& digest) const { return blobs_ / hex_of(digest); }
  const fs::path& blobs_dir() const { return blobs_; }

  // Whether a blob with this digest and size is already here; a wrong one is removed.
  Result<bool> has(const std::string& digest, std::uint64_t size) const {
    std::error_code ec;
    const fs::path p = blob(digest);
    if (!fs::is_regular_file(fs::symlink_status(p, ec))) return false;
    const auto actual = fs::file_size(p, ec);
    if (!ec && actual == size) {
      const std::string hex = SBX_TRY(digest::sha256_file(p));
      if ("sha256:" + hex == digest) return true;
    }
    log::get("registry")->warn("removing {} from {}: its content does not match its name", digest, blobs_.string());
    fs::remove(p, ec);
    return false;
  }

  Result<std::string> read(const std::string& digest) const {
    std::ifstream in(blob(digest), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof()) return fail(ErrorCode::io, "cannot read " + blob(digest).string());
    return ss.str();
  }

  Result<void> store(const std::string& digest, std::string_view bytes) const {
    auto tmp = SBX_TRY(TempFile::create(blobs_, kPartialPrefix));
    SBX_TRY_VOID(tmp.write(bytes));
    return tmp.commit(blob(digest));
  }

  Result<void> write_file(const std::string& name, std::string_view bytes) const {
    auto tmp = SBX_TRY(TempFile::create(blobs_, kPartialPrefix));
    SBX_TRY_VOID(tmp.write(bytes));
    return tmp.commit(root_ / name);
  }

 private:
  fs::path root_;
  fs::path blobs_;
};

struct Puller {
  const RegistryRef& ref;
  const PullOptions& options;
  RegistryClient client;
  Layout layout;
  PullResult result;

  std::string what(const std::string& reference) const { return "manifest " + ref.host + "/" + ref.repository + (reference.starts_with("sha256:") ? "@" : ":") + reference; }

  // A manifest by tag or digest; by digest it may come from the layout without any network.
  Result<std::pair<std::string, Manifest>> manifest(const std::string& reference, std::optional<std::uint64_t> size) {
    const std::string name = what(reference);
    const bool by_digest = reference.starts_with("sha256:");
    std::error_code ec;
    const std::uint64_t local_size = by_digest ? size.value_or(fs::file_size(layout.blob(reference), ec)) : 0;
    if (by_digest && !ec && SBX_TRY(layout.has(reference, local_size))) {
      const std::string body = SBX_TRY(layout.read(reference));
      if (body.size() <= kMaxManifestBytes && "sha256:" + digest::sha256_hex(body) == reference) {
        Manifest m = SBX_TRY(parse_manifest(body, "", name));
        return std::pair{reference, std::move(m)};
      }
    }
    http::Request req;
    req.headers = {"Accept: " + std::string(kOciIndexType) + ", " + std::string(kOciManifestType) + ", " +
                   std::string(kDockerListType) + ", " + std::string(kDockerManifestType)};
    req.max_body = kMaxManifestBytes;
    req.total_timeout_s = 60;
    http::Response r = SBX_TRY(client.get("manifests/" + reference, req));
    if (r.status == 404)
      return fail(ErrorCode::not_found, name + " does not exist" + registry_message(r.body),
                  "check the repository name and tag (or digest), e.g. with the registry's web UI or `skopeo inspect`");
    if (r.status != 200)
      return fail(ErrorCode::runtime, "registry " + ref.host + " answered HTTP " + std::to_string(r.status) + " for " + name + registry_message(r.body));
    const std::string actual = digest::sha256(r.body);
    if (by_digest && actual != reference)
      return fail(ErrorCode::runtime, name + " failed verification: the registry sent content with digest " + actual,
                  "the registry (or something between it and sbx) served the wrong manifest; nothing was kept");
    if (size && r.body.size() != *size)
      return fail(ErrorCode::runtime, name + " is " + std::to_string(r.body.size()) + " bytes, the list said " + std::to_string(*size));
    if (auto claimed = r.header("docker-content-digest"); claimed && claimed->starts_with("sha256:") && *claimed != actual)
      return fail(ErrorCode::runtime, name + ": the registry claims digest " + claimed->substr(0, 71) + " but the content hashes to " + actual,
                  "the registry's answer is inconsistent; refusing it");
    Manifest m = SBX_TRY(parse_manifest(r.body, r.header("content-type").value_or(""), name));
    SBX_TRY_VOID(layout.store(actual, r.body));
    return std::pair{actual, std::move(m)};
  }

  Result<void> blob(const Descriptor& d, std::size_t index, std::size_t count, bool report) {
    if (SBX_TRY(layout.has(d.digest, d.size))) {
      result.bytes_reused += d.size;
      if (report && options.progress) options.progress(PullProgress{d.digest, d.size, d.size, index, count});
      return {};
    }
    const std::string name = "blob " + d.digest + " of " + ref.host + "/" + ref.repository;
    // Transport failures, 5xx/429 answers and cut transfers are retried (fresh file, fresh hash);
    // wrong content, wrong sizes and refusals are not.
    for (int attempt = 1;; ++attempt) {
      bool transient = false;
      auto r = fetch_blob(d, index, count, report, name, transient);
      if (r || !transient || attempt == kBlobAttempts) return r;
      log::get("registry")->warn("{}; trying again ({}/{})", r.error().message, attempt + 1, kBlobAttempts);
      std::this_thread::sleep_for(std::chrono::milliseconds(500 * attempt));
    }
  }

  Result<void> fetch_blob(const Descriptor& d, std::size_t index, std::size_t count, bool report, const std::string& name,
                          bool& transient) {
    PullProgress p{d.digest, 0, d.size, index, count};
    auto tmp = SBX_TRY(TempFile::create(layout.blobs_dir(), kPartialPrefix));
    digest::Sha256 hash;
    if (report && options.progress) options.progress(p);
    bool sink_failed = false;
    http::Request req;
    req.max_body = 64 << 10;  // error bodies only; the blob itself streams into the sink
    req.total_timeout_s = 0;  // large layers: the stall limit bounds the transfer instead
    req.sink = [&](std::string_view chunk) -> Result<void> {
      sink_failed = true;
      if (chunk.size() > d.size - p.done)
        return fail(ErrorCode::runtime, name + " is larger than the " + std::to_string(d.size) + " bytes its manifest declares",
                    "the registry sent more data than announced; refusing it");
      hash.update(chunk);
      SBX_TRY_VOID(tmp.write(chunk));
      sink_failed = false;
      p.done += chunk.size();
      if (report && options.progress) options.progress(p);
      return {};
    };
    auto got = client.get("blobs/" + d.digest, req);
    if (!got) {
      transient = !sink_failed && got.error().code == ErrorCode::runtime;
      return std::unexpected(std::move(got.error()));
    }
    const http::Response& r = *got;
    if (r.status == 404) return fail(ErrorCode::not_found, name + " is missing from the registry" + registry_message(r.body));
    if (r.status != 200) {
      transient = r.status >= 500 || r.status == 429;
      return fail(ErrorCode::runtime, "registry " + ref.host + " answered HTTP " + std::to_string(r.status) + " for " + name + registry_message(r.body));
    }
    if (p.done != d.size) {
      transient = true;
      return fail(ErrorCode::runtime, name + " is truncated: got " + std::to_string(p.done) + " of " + std::to_string(d.size) + " bytes",
                  "the connection or the registry cut the transfer short; try again");
    }
    const std::string actual = "sha256:" + hash.hex();
    if (actual != d.digest)
      return fail(ErrorCode::runtime, name + " failed verification: its content hashes to " + actual,
                  "the registry (or something between it and sbx) served corrupted data; nothing was kept");
    SBX_TRY_VOID(tmp.commit(layout.blob(d.digest)));
    result.bytes_fetched += d.size;
    return {};
  }

  // ": the tag :x is sha256:..." for the message about a wrong pin ("" when that cannot be found out).
  std::string tag_now() {
    http::Request req;
    req.headers = {"Accept: " + std::string(kOciIndexType) + ", " + std::string(kOciManifestType) + ", " +
                   std::string(kDockerListType) + ", " + std::string(kDockerManifestType)};
    req.max_body = kMaxManifestBytes;
    req.total_timeout_s = 30;
    auto r = client.get("manifests/" + ref.tag, req);
    if (!r || r->status != 200) return "";
    return " (its tag :" + ref.tag + " is " + digest::sha256(r->body) + ")";
  }

  Result<void> check_config(const Descriptor& d) {
    const json cfg = json::parse(SBX_TRY(layout.read(d.digest)), nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) return fail(ErrorCode::runtime, "image config " + d.digest + " is not a JSON object");
    auto field = [&](const char* key) {
      auto it = cfg.find(key);
      return it != cfg.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    const std::string os = field("os"), arch = field("architecture");
    if ((!os.empty() && os != options.os) || (!arch.empty() && arch != options.architecture))
      return fail(ErrorCode::invalid, "image " + ref.str() + " is for " + os.substr(0, 32) + "/" + arch.substr(0, 32) + ", not " +
                                          options.os + "/" + options.architecture,
                  "pick a tag built for " + options.os + "/" + options.architecture + " (or a multi-platform manifest list)");
    return {};
  }

  Result<void> run() {
    SBX_TRY_VOID(layout.prepare());
    const std::string top = ref.digest ? *ref.digest : ref.tag;
    auto fetched = manifest(top, std::nullopt);
    if (!fetched && ref.digest && !ref.tag.empty() && fetched.error().code == ErrorCode::not_found)
      return fail(ErrorCode::not_found, "the digest pin " + *ref.digest + " is not in " + ref.host + "/" + ref.repository + tag_now(),
                  "update the pin (digest = ...) to the image you mean, or remove it to follow the tag");
    if (!fetched) return std::unexpected(std::move(fetched.error()));
    auto [top_digest, top_manifest] = std::move(*fetched);
    std::string digest = top_digest;
    Manifest m = std::move(top_manifest);
    if (m.is_list) {
      result.index_digest = top_digest;
      const Descriptor chosen = SBX_TRY(choose_platform(m, options.os, options.architecture, what(top)));
      auto [d, inner] = SBX_TRY(manifest(chosen.digest, chosen.size));
      if (inner.is_list) return fail(ErrorCode::runtime, what(chosen.digest) + " is a list inside a list", "nested lists are not supported");
      digest = d;
      m = std::move(inner);
    }
    result.manifest_digest = digest;
    result.manifest_media_type = m.media_type;
    result.config_digest = m.config.digest;
    SBX_TRY_VOID(blob(m.config, 0, 0, false));
    SBX_TRY_VOID(check_config(m.config));
    for (std::size_t i = 0; i < m.layers.size(); ++i) SBX_TRY_VOID(blob(m.layers[i], i, m.layers.size(), true));

    json entry = {{"mediaType", m.media_type},
                  {"digest", digest},
                  {"size", fs::file_size(layout.blob(digest))},
                  {"platform", {{"os", options.os}, {"architecture", options.architecture}}},
                  {"annotations", {{"io.sbx.image.ref", ref.str()}}}};
    if (!ref.tag.empty()) entry["annotations"]["org.opencontainers.image.ref.name"] = ref.tag;
    const json index = {{"schemaVersion", 2}, {"mediaType", kOciIndexType}, {"manifests", json::array({entry})}};
    SBX_TRY_VOID(layout.write_file("index.json", index.dump(2) + "\n"));
    log::get("registry")->info("pulled {} ({}): {} layers, {} bytes fetched, {} reused", ref.str(), digest, m.layers.size(),
                               result.bytes_fetched, result.bytes_reused);
    return {};
  }
};
}  // namespace

Result<PullResult> pull_to_layout(const RegistryRef& ref, const fs::path& layout_dir, const PullOptions& options) {
  if (ref.tag.empty() && !ref.digest) return fail(ErrorCode::invalid, "registry reference " + ref.str() + " has neither tag nor digest");
  if (ref.digest && !is_sha256_digest(*ref.digest)) return fail(ErrorCode::invalid, "invalid digest pin in " + ref.str());
  std::optional<RegistryCredentials> credentials = options.credentials;
  if (!credentials) credentials = SBX_TRY(lookup_registry_credentials(ref.host));
  Puller puller{ref, options, RegistryClient(ref, std::move(credentials)), Layout(layout_dir), {}};
  SBX_TRY_VOID(puller.run());
  return puller.result;
}

}  // namespace sbx::image
