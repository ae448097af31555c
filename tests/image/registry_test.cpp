// The registry client against Debian's docker-registry on loopback (tests/image/registry_fixture.py
// starts it and pushes images through the distribution API), plus the pure parsing pieces.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "config/image_ref.h"
#include "image/registry.h"
#include "image/registry_auth.h"
#include "image/registry_client.h"
#include "image/registry_http.h"
#include "image/registry_manifest.h"
#include "script_server.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using sbx::test::TempDir;
using nlohmann::json;
using namespace sbx;
using namespace sbx::image;

namespace {

// registry_fixture.py (docker-registry, with token auth if asked) or registry_redirector.py.
class Registry : public sbx::testing::ScriptServer {
 public:
  explicit Registry(bool token) : Registry("registry_fixture.py", {token ? "--token" : ""}) {}
  Registry(const std::string& script_name, const std::vector<std::string>& args)
      : ScriptServer(fs::path(SBX_TEST_SOURCE_DIR) / "tests" / "image" / script_name, args) {}
  RegistryRef ref(const std::string& repo, const std::string& tag, std::optional<std::string> digest = {}) const {
    return RegistryRef{host(), repo, tag, std::move(digest)};
  }
};

Registry& plain_registry() {
  static Registry r(false);
  return r;
}

Registry& token_registry() {
  static Registry r(true);
  return r;
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

// Every blob's content hashes to its file name, and nothing else (temp files) is in blobs/.
std::vector<std::string> check_blobs(const fs::path& layout) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(layout / "blobs" / "sha256")) {
    const std::string name = e.path().filename().string();
    INFO(name);
    CHECK_FALSE(name.starts_with("."));
    CHECK(*digest::sha256_file(e.path()) == name);
    names.push_back("sha256:" + name);
  }
  return names;
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

// One registry serves these sections (one fixture start per test process keeps the suite fast).
TEST_CASE("registry pulls from docker-registry on loopback are verified and pick the right image", "[image][registry]") {
  SECTION("a registry pull by tag yields an OCI layout whose blobs hash to their names") {
    Registry& reg = plain_registry();
    const json& app = reg.info()["images"]["app:1"];
    TempDir out;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> last;
    PullOptions opts;
    opts.progress = [&](const PullProgress& p) {
      CHECK(p.done <= p.total);
      CHECK(p.count == 2);
      last[p.digest] = {p.done, p.total};
    };
    auto r = pull_to_layout(reg.ref("test/app", "1"), out.path(), opts);
    INFO((r ? "" : r.error().message + " / " + r.error().hint));
    REQUIRE(r);
    CHECK(r->manifest_digest == app["manifest"]);
    CHECK(r->config_digest == app["config"]);
    CHECK(r->index_digest.empty());
    CHECK(r->bytes_reused == 0);
    CHECK(read_json(out.path() / "oci-layout")["imageLayoutVersion"] == "1.0.0");
    const json index = read_json(out.path() / "index.json");
    REQUIRE(index["manifests"].size() == 1);
    CHECK(index["manifests"][0]["digest"] == app["manifest"]);
    CHECK(index["manifests"][0]["mediaType"] == "application/vnd.oci.image.manifest.v1+json");
    CHECK(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1");
    const auto blobs = check_blobs(out.path());
    CHECK(blobs.size() == 4);  // manifest, config, two layers
    for (const auto& l : app["layers"]) {
      CHECK(contains(blobs, l.get<std::string>()));
      REQUIRE(last.count(l.get<std::string>()) == 1);
      CHECK(last[l.get<std::string>()].first == last[l.get<std::string>()].second);  // progress reached the end
    }
  }
  SECTION("a registry pull by digest gets the pinned manifest and reuses blobs already in the layout") {
    Registry& reg = plain_registry();
    const json& app = reg.info()["images"]["app:1"];
    TempDir out;
    auto first = pull_to_layout(reg.ref("test/app", "", app["manifest"].get<std::string>()), out.path());
    REQUIRE(first);
    CHECK(first->manifest_digest == app["manifest"]);
    CHECK(first->bytes_fetched > 0);
    check_blobs(out.path());
    // Again, with a tag as well: everything is already there and verified, nothing is fetched.
    auto second = pull_to_layout(reg.ref("test/app", "1", app["manifest"].get<std::string>()), out.path());
    REQUIRE(second);
    CHECK(second->bytes_fetched == 0);
    CHECK(second->bytes_reused == first->bytes_fetched);
    // A blob damaged on disk is not reused: it is fetched again.
    const fs::path layer = out.path() / "blobs" / "sha256" / app["layers"][0].get<std::string>().substr(7);
    { std::ofstream(layer, std::ios::binary | std::ios::trunc) << "damaged"; }
    auto third = pull_to_layout(reg.ref("test/app", "1"), out.path());
    REQUIRE(third);
    CHECK(third->bytes_fetched == fs::file_size(layer));
    check_blobs(out.path());
  }
  SECTION("a registry pull of a manifest list picks the linux/amd64 image") {
    Registry& reg = plain_registry();
    const json& multi = reg.info()["images"]["multi:1"];
    TempDir out;
    auto r = pull_to_layout(reg.ref("test/multi", "1"), out.path());
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
    CHECK(r->index_digest == multi["manifest"]);
    CHECK(r->manifest_digest == multi["amd64"]["manifest"]);
    const json index = read_json(out.path() / "index.json");
    CHECK(index["manifests"][0]["digest"] == multi["amd64"]["manifest"]);
    CHECK(index["manifests"][0]["platform"]["architecture"] == "amd64");
    const auto blobs = check_blobs(out.path());
    CHECK(contains(blobs, multi["amd64"]["layers"][0].get<std::string>()));
    CHECK_FALSE(contains(blobs, multi["arm64"]["layers"][0].get<std::string>()));
    // Asking for a platform the list lacks names the ones it has.
    PullOptions opts;
    opts.architecture = "riscv64";
    TempDir other;
    auto none = pull_to_layout(reg.ref("test/multi", "1"), other.path(), opts);
    REQUIRE_FALSE(none);
    CHECK_THAT(none.error().message, Catch::Contains("no linux/riscv64 image"));
    CHECK_THAT(none.error().hint, Catch::Contains("linux/arm64") && Catch::Contains("linux/amd64"));
  }
  SECTION("a registry pull of a Docker v2 manifest keeps its media types") {
    Registry& reg = plain_registry();
    TempDir out;
    auto r = pull_to_layout(reg.ref("test/docker", "1"), out.path());
    REQUIRE(r);
    CHECK(r->manifest_media_type == "application/vnd.docker.distribution.manifest.v2+json");
    CHECK(read_json(out.path() / "index.json")["manifests"][0]["mediaType"] == r->manifest_media_type);
    check_blobs(out.path());
  }
  SECTION("a registry pull with a wrong digest pin is refused") {
    Registry& reg = plain_registry();
    const json& app = reg.info()["images"]["app:1"];
    const std::string wrong = digest::sha256("not the image");
    TempDir out;
    auto r = pull_to_layout(reg.ref("test/app", "1", wrong), out.path());
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("digest pin " + wrong) && Catch::Contains(app["manifest"].get<std::string>()));
    CHECK_FALSE(fs::exists(out.path() / "index.json"));
    // A pin that names an existing blob which is not a manifest is refused too.
    auto cfg = pull_to_layout(reg.ref("test/app", "", app["config"].get<std::string>()), out.path());
    REQUIRE_FALSE(cfg);
    CHECK_FALSE(fs::exists(out.path() / "index.json"));
  }
  SECTION("a registry image for another architecture is refused") {
    Registry& reg = plain_registry();
    TempDir out;
    auto r = pull_to_layout(reg.ref("test/arm", "1"), out.path());
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("linux/arm64") && Catch::Contains("not linux/amd64"));
    CHECK_FALSE(fs::exists(out.path() / "index.json"));
  }
  SECTION("a missing registry tag is a not-found error naming it") {
    Registry& reg = plain_registry();
    TempDir out;
    auto r = pull_to_layout(reg.ref("test/app", "nope"), out.path());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::not_found);
    CHECK_THAT(r.error().message, Catch::Contains("test/app:nope"));
  }
}

TEST_CASE("a registry pull with a corrupted blob is refused and leaves nothing partial", "[image][registry]") {
  Registry& reg = plain_registry();
  const json& img = reg.info()["images"]["corrupt:1"];
  const std::string victim = img["layers"][0];
  // Damage the blob inside the registry's own storage, keeping its size: only the digest can tell.
  const fs::path data = reg.blob_data(victim);
  REQUIRE(fs::exists(data));
  {
    std::fstream f(data, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.write("CORRUPTED", 9);
  }
  TempDir out;
  auto r = pull_to_layout(reg.ref("test/corrupt", "1"), out.path());
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains(victim) && Catch::Contains("failed verification"));
  CHECK_FALSE(r.error().hint.empty());
  CHECK_FALSE(fs::exists(out.path() / "index.json"));
  const auto blobs = check_blobs(out.path());  // no .partial files, nothing unverified
  CHECK_FALSE(contains(blobs, victim));
}

TEST_CASE("a registry behind token auth pulls with credentials and refuses without them", "[image][registry]") {
  Registry& reg = token_registry();
  const json& app = reg.info()["images"]["app:1"];
  TempDir out;
  setenv("SBX_REGISTRY_AUTH_FILE", (out.path() / "no-such-auth.json").c_str(), 1);
  unsetenv("SBX_REGISTRY_USERNAME");
  unsetenv("SBX_REGISTRY_PASSWORD");
  auto none = pull_to_layout(reg.ref("test/app", "1"), out.path());
  REQUIRE_FALSE(none);
  CHECK(none.error().code == ErrorCode::permission);
  CHECK_THAT(none.error().message, Catch::Contains("refused anonymous access"));
  CHECK_THAT(none.error().hint, Catch::Contains("SBX_REGISTRY_USERNAME"));

  PullOptions wrong;
  wrong.credentials = RegistryCredentials{"alice", "not-the-password"};
  auto bad = pull_to_layout(reg.ref("test/app", "1"), out.path(), wrong);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("refused the credentials for " + reg.host()));
  CHECK_THAT(bad.error().message + bad.error().hint, !Catch::Contains("not-the-password"));
  CHECK_FALSE(fs::exists(out.path() / "index.json"));

  // Right credentials, from a Docker-style auth file scoped to this registry host.
  const std::string auth = base64_encode(reg.info()["user"].get<std::string>() + ":" + reg.info()["password"].get<std::string>());
  { std::ofstream(out.path() / "auth.json") << json{{"auths", {{reg.host(), {{"auth", auth}}}}}}.dump(); }
  setenv("SBX_REGISTRY_AUTH_FILE", (out.path() / "auth.json").c_str(), 1);
  auto ok = pull_to_layout(reg.ref("test/app", "1"), out.path() / "layout");
  unsetenv("SBX_REGISTRY_AUTH_FILE");
  INFO((ok ? "" : ok.error().message));
  REQUIRE(ok);
  CHECK(ok->manifest_digest == app["manifest"]);
  check_blobs(out.path() / "layout");
  const json log = reg.ask("tokens");
  REQUIRE(log.is_array());
  bool scoped = false;
  for (const auto& e : log)
    if (e["basic"] == true && e["service"] == "sbx-test-registry" && e["scope"].size() == 1 && e["scope"][0] == "repository:test/app:pull")
      scoped = true;
  CHECK(scoped);
}

TEST_CASE("registry references resolve Docker Hub shorthand, ports and digest pins", "[image][registry]") {
  auto hub = parse_registry_ref("debian:12");
  REQUIRE(hub);
  CHECK(hub->host == "registry-1.docker.io");
  CHECK(hub->repository == "library/debian");
  CHECK(hub->tag == "12");
  auto latest = parse_registry_ref("someone/tool");
  REQUIRE(latest);
  CHECK(latest->str() == "registry-1.docker.io/someone/tool:latest");
  const std::string d = "sha256:" + std::string(64, 'a');
  auto local = parse_registry_ref("127.0.0.1:5000/team/app:v1@" + d);
  REQUIRE(local);
  CHECK(local->host == "127.0.0.1:5000");
  CHECK(local->repository == "team/app");
  CHECK(local->tag == "v1");
  CHECK(local->digest == d);
  auto pinned = parse_registry_ref("localhost:5000/app@" + d);
  REQUIRE(pinned);
  CHECK(pinned->tag.empty());
  CHECK_FALSE(parse_registry_ref("./rootfs"));
  CHECK_FALSE(parse_registry_ref("Bad Name"));
}

TEST_CASE("registries are reached over https unless loopback or listed as insecure", "[image][registry]") {
  unsetenv("SBX_INSECURE_REGISTRIES");
  CHECK(registry_allows_http("127.0.0.1:5000"));
  CHECK(registry_allows_http("localhost"));
  CHECK(registry_allows_http("[::1]:5000"));
  CHECK_FALSE(registry_allows_http("registry.example.com"));
  CHECK_FALSE(registry_allows_http("127.example.com"));
  CHECK(RegistryClient(RegistryRef{"registry.example.com", "a", "1", {}}, {}).base() == "https://registry.example.com");
  CHECK(RegistryClient(RegistryRef{"127.0.0.1:5000", "a", "1", {}}, {}).base() == "http://127.0.0.1:5000");
  setenv("SBX_INSECURE_REGISTRIES", "registry.example.com, other:5000", 1);
  CHECK(registry_allows_http("registry.example.com"));
  CHECK(registry_allows_http("other:5000"));
  CHECK_FALSE(registry_allows_http("other:6000"));
  unsetenv("SBX_INSECURE_REGISTRIES");
}

TEST_CASE("redirects and token realms accept only http and https URLs", "[image][registry]") {
  CHECK(http::resolve_url("https://r.example/v2/a/blobs/x", "/other/path?sig=1").value() == "https://r.example/other/path?sig=1");
  CHECK(http::resolve_url("https://r.example/v2/", "https://cdn.example/blob").value() == "https://cdn.example/blob");
  CHECK_FALSE(http::resolve_url("https://r.example/v2/", "file:///etc/passwd"));
  CHECK_FALSE(http::resolve_url("https://r.example/v2/", "ftp://r.example/x"));
  CHECK_FALSE(http::parse_url("gopher://x/"));
  CHECK(http::parse_url("http://[::1]:5000/v2/")->authority() == "[::1]:5000");
}

TEST_CASE("WWW-Authenticate challenges parse with quoted commas", "[image][registry]") {
  auto c = parse_auth_challenge(R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push")");
  REQUIRE(c);
  CHECK(c->scheme == "bearer");
  CHECK(c->params["realm"] == "https://auth.example/token");
  CHECK(c->params["service"] == "registry.example");
  CHECK(c->params["scope"] == "repository:a/b:pull,push");
  auto b = parse_auth_challenge(R"(Basic realm="Registry Realm")");
  REQUIRE(b);
  CHECK(b->scheme == "basic");
  CHECK_FALSE(parse_auth_challenge(R"(Bearer realm="unterminated)"));
  CHECK_FALSE(parse_auth_challenge(""));
  CHECK(base64_decode(base64_encode("alice:pa:ss")) == "alice:pa:ss");
  CHECK(base64_encode("ab") == "YWI=");
  CHECK_FALSE(base64_decode("!!"));
}

TEST_CASE("manifests from a registry are validated before anything is fetched", "[image][registry]") {
  using namespace sbx::image::distribution;
  const std::string d = "sha256:" + std::string(64, 'b');
  auto manifest = [&](const std::string& layer) {
    return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
           R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + d + R"(","size":10},)"
           R"("layers":[)" + layer + "]}";
  };
  const std::string good_layer = R"({"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + d + R"(","size":5})";
  auto ok = parse_manifest(manifest(good_layer), "application/vnd.oci.image.manifest.v1+json", "m");
  REQUIRE(ok);
  CHECK(ok->layers.size() == 1);
  // Served as one type, claiming another.
  CHECK_FALSE(parse_manifest(manifest(good_layer), "application/vnd.oci.image.index.v1+json", "m"));
  // Bad digests, negative or huge sizes, foreign URLs, unknown layer types, schema 1, not JSON.
  CHECK_FALSE(parse_manifest(manifest(R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha512:ab","size":5})"), "", "m"));
  CHECK_FALSE(parse_manifest(manifest(R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" + d + R"(","size":-1})"), "", "m"));
  CHECK_FALSE(parse_manifest(manifest(R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" + d + R"(","size":99999999999999})"), "", "m"));
  auto foreign = parse_manifest(manifest(R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" + d +
                                         R"(","size":5,"urls":["http://evil.example/x"]})"), "", "m");
  REQUIRE_FALSE(foreign);
  CHECK_THAT(foreign.error().hint, Catch::Contains("foreign"));
  CHECK_FALSE(parse_manifest(manifest(R"({"mediaType":"text/html","digest":")" + d + R"(","size":5})"), "", "m"));
  auto v1 = parse_manifest(R"({"schemaVersion":1,"name":"x"})", "application/vnd.docker.distribution.manifest.v1+prettyjws", "m");
  REQUIRE_FALSE(v1);
  CHECK_THAT(v1.error().message, Catch::Contains("schema 1"));
  CHECK_FALSE(parse_manifest("<html>", "", "m"));
  CHECK_FALSE(parse_manifest("[]", "", "m"));
  // A list entry bigger than a manifest may be is refused.
  CHECK_FALSE(parse_manifest(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)"
                             R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + d + R"(","size":99999999}]})",
                             "", "m"));
}

TEST_CASE("registry redirects are followed without credentials, and bad ones are refused", "[image][registry]") {
  Registry& reg = plain_registry();
  Registry front("registry_redirector.py", {reg.info()["base"].get<std::string>()});
  const std::string host = "127.0.0.1:" + std::to_string(front.info()["port"].get<int>());
  const json& app = reg.info()["images"]["app:1"];
  PullOptions opts;
  opts.credentials = RegistryCredentials{"bob", "builder"};
  TempDir out;
  // front (Basic auth) -> 307 to storage on another port -> 307 to the registry.
  auto r = pull_to_layout(RegistryRef{host, "test/app", "1", {}}, out.path(), opts);
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
  CHECK(r->manifest_digest == app["manifest"]);
  check_blobs(out.path());
  const json seen = front.ask("seen");
  REQUIRE(seen.size() >= 4);  // the manifest, the config and two layers went through storage
  for (const auto& s : seen) CHECK(s["authorization"] == false);

  // A registry that answers 503 once per blob: each blob is fetched again and the pull succeeds.
  auto flaky = pull_to_layout(RegistryRef{host, "flaky/app", "1", {}}, out.path() / "flaky", opts);
  INFO((flaky ? "" : flaky.error().message));
  REQUIRE(flaky);
  CHECK(flaky->bytes_fetched > 0);
  CHECK(front.ask("flaky").size() == 3);  // config and two layers each failed once
  check_blobs(out.path() / "flaky");

  auto evil = pull_to_layout(RegistryRef{host, "evil/x", "1", {}}, out.path() / "evil", opts);
  REQUIRE_FALSE(evil);
  CHECK_THAT(evil.error().message, Catch::Contains("redirected to a refused target"));
  auto loop = pull_to_layout(RegistryRef{host, "loop/x", "1", {}}, out.path() / "loop", opts);
  REQUIRE_FALSE(loop);
  CHECK_THAT(loop.error().message, Catch::Contains("redirected more than 5 times"));
  // Basic auth without credentials: a clear error naming how to give them.
  PullOptions none;
  none.credentials = std::nullopt;
  setenv("SBX_REGISTRY_AUTH_FILE", (out.path() / "none.json").c_str(), 1);
  auto anon = pull_to_layout(RegistryRef{host, "test/app", "1", {}}, out.path() / "anon", none);
  unsetenv("SBX_REGISTRY_AUTH_FILE");
  REQUIRE_FALSE(anon);
  CHECK_THAT(anon.error().message, Catch::Contains("requires a user name and password"));
}
