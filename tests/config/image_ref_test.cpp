#include <catch2/catch.hpp>

#include "config/image_ref.h"

using namespace sbx::config;

TEST_CASE("image references are classified by syntax", "[config][image]") {
  const std::filesystem::path dir = "/proj";
  CHECK(parse_image_ref("builtin", dir)->kind == ImageKind::builtin);
  CHECK(parse_image_ref("builtin", dir)->reference == "builtin:default");
  CHECK(parse_image_ref("builtin:default", dir)->kind == ImageKind::builtin);
  CHECK_FALSE(parse_image_ref("builtin:alpine", dir).has_value());

  auto dir_ref = parse_image_ref("./rootfs/", dir);
  CHECK(dir_ref->kind == ImageKind::rootfs_dir);
  CHECK(dir_ref->reference == "/proj/rootfs");
  auto archive = parse_image_ref("../img/agent.tar.gz", dir);
  CHECK(archive->kind == ImageKind::oci_archive);
  CHECK(archive->reference == "/img/agent.tar.gz");
  CHECK(parse_image_ref("/abs/x.tgz", dir)->kind == ImageKind::oci_archive);
  CHECK(parse_image_ref("/abs/x.tar", dir)->kind == ImageKind::oci_archive);
}

TEST_CASE("registry references are normalised the way docker does", "[config][image]") {
  const std::filesystem::path dir = "/proj";
  CHECK(parse_image_ref("alpine", dir)->reference == "docker.io/library/alpine:latest");
  CHECK(parse_image_ref("alpine:3.19", dir)->reference == "docker.io/library/alpine:3.19");
  CHECK(parse_image_ref("me/tool:1", dir)->reference == "docker.io/me/tool:1");
  CHECK(parse_image_ref("ghcr.io/org/agent:1.2", dir)->reference == "ghcr.io/org/agent:1.2");
  CHECK(parse_image_ref("localhost:5000/x", dir)->reference == "localhost:5000/x:latest");
  const std::string hex(64, 'a');
  auto pinned = parse_image_ref("ghcr.io/org/agent@sha256:" + hex, dir);
  CHECK(pinned->kind == ImageKind::registry);
  CHECK(pinned->reference == "ghcr.io/org/agent");
  CHECK(pinned->digest == "sha256:" + hex);
  CHECK_FALSE(parse_image_ref("Alpine", dir).has_value());
  CHECK_FALSE(parse_image_ref("alpine:", dir).has_value());
  CHECK_FALSE(parse_image_ref("a b", dir).has_value());
  CHECK_FALSE(parse_image_ref("x@sha256:abc", dir).has_value());
}

TEST_CASE("digest pins are sha256 and 64 lower-case hex digits", "[config][image]") {
  CHECK(parse_digest("sha256:" + std::string(64, 'f')).has_value());
  CHECK_FALSE(parse_digest("sha256:" + std::string(64, 'F')).has_value());
  CHECK_FALSE(parse_digest("sha256:" + std::string(63, 'f')).has_value());
  CHECK_FALSE(parse_digest("sha512:" + std::string(64, 'f')).has_value());
}

TEST_CASE("saved:NAME names an image sbx save made, and Docker Hub's saved image needs its host", "[config][image]") {
  const std::filesystem::path dir = "/proj";
  auto s = parse_image_ref("saved:with-deps_1.2", dir);
  REQUIRE(s.has_value());
  CHECK(s->kind == ImageKind::saved);
  CHECK(s->reference == "saved:with-deps_1.2");
  auto hub = parse_image_ref("docker.io/library/saved:with-deps", dir);
  REQUIRE(hub.has_value());
  CHECK(hub->kind == ImageKind::registry);
  for (const char* bad : {"saved:", "saved:Upper", "saved:-dash", "saved:a/b", "saved:a b", "saved:.x", "saved:x:y"}) {
    INFO(bad);
    auto r = parse_image_ref(bad, dir);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("saved image name") != std::string::npos);
  }
  CHECK_FALSE(parse_image_ref("saved:" + std::string(65, 'a'), dir).has_value());
  CHECK(parse_image_ref("saved:" + std::string(64, 'a'), dir).has_value());
}

TEST_CASE("saved image names are short, lower-case and cannot start with punctuation", "[config][image]") {
  CHECK(valid_saved_name("a"));
  CHECK(valid_saved_name("0nightly.v2_x-y"));
  CHECK_FALSE(valid_saved_name(""));
  CHECK_FALSE(valid_saved_name("_x"));
  CHECK_FALSE(valid_saved_name("x/y"));
  CHECK_FALSE(valid_saved_name("x\n"));
  CHECK_FALSE(valid_saved_name("Ab"));
  CHECK_FALSE(valid_saved_name(std::string(65, 'a')));
}
