#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "image/cache.h"
#include "image/dev_image.h"
#include "image_fixtures.h"

namespace fs = std::filesystem;
using namespace sbx::image;
using namespace sbx::image::test;

namespace {
// Sets an environment variable for one scope.
struct ScopedEnv {
  ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  const char* name_;
};
}  // namespace

TEST_CASE("the dev image recipe is the issue's package list on Debian 12, from the host's apt sources", "[image][dev]") {
  TempDir tmp;
  write_file(tmp.path() / "a.sources", "Types: deb\nURIs: http://deb.example.test/debian\nSuites: bookworm\nComponents: main\n");
  ScopedEnv env("SBX_APT_SOURCES", (tmp.path() / "a.sources").string());
  auto r = dev_recipe();
  REQUIRE(r);
  CHECK(r->suite == "bookworm");
  for (const char* p : {"git", "curl", "ca-certificates", "openssh-client", "python3", "nodejs", "npm", "build-essential", "sudo",
                        "procps", "less", "jq", "ripgrep", "docker.io", "containerd", "runc", "docker-compose", "kmod"})
    CHECK(std::find(r->packages.begin(), r->packages.end(), p) != r->packages.end());
  REQUIRE(r->sources.size() == 1);
  CHECK(r->sources_text.find("deb.example.test") != std::string::npos);
}

TEST_CASE("the recipe digest is stable and changes with the apt sources", "[image][dev]") {
  TempDir tmp;
  write_file(tmp.path() / "a.list", "deb http://deb.example.test/debian bookworm main\n");
  ScopedEnv env("SBX_APT_SOURCES", (tmp.path() / "a.list").string());
  const std::string first = dev_recipe()->digest();
  CHECK(first == dev_recipe()->digest());
  CHECK(first.starts_with("sha256:"));
  write_file(tmp.path() / "a.list", "deb http://mirror.example.test/debian bookworm main\n");
  CHECK(dev_recipe()->digest() != first);
  auto r = *dev_recipe();
  r.packages.push_back("vim");
  CHECK(r.digest() != dev_recipe()->digest());
}

TEST_CASE("a sources file of comments only is no source, and no source is a clear error", "[image][dev]") {
  TempDir tmp;
  write_file(tmp.path() / "empty.list", "# deb http://deb.example.test/debian bookworm main\n\n");
  ScopedEnv env("SBX_APT_SOURCES", (tmp.path() / "empty.list").string());
  auto r = dev_recipe();
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("no apt sources") != std::string::npos);
  CHECK(r.error().hint.find("SBX_APT_SOURCES") != std::string::npos);
}

TEST_CASE("layer tarballs sbx made become one cached image, reused by id and listed", "[image][dev]") {
  TempDir tmp;
  const fs::path cache = tmp.path() / "cache";
  write_tar(tmp.path() / "base.tar", {{"etc", 'd', "", 0755},
                                     {"etc/passwd", 'f', "root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000::/home/agent:/bin/sh\n"},
                                     {"etc/group", 'f', "root:x:0:\nagent:x:1000:\n"},
                                     {"usr/bin/tool", 'f', "#!/bin/sh\n", 0755}});
  write_tar(tmp.path() / "top.tar", {{"usr/local/bin/agent-cli", 'l', "../lib/node_modules/agent-cli/cli.js"},
                                    {"usr/local/lib/node_modules/agent-cli/cli.js", 'f', "console.log(1)\n", 0755}});
  ImportOptions o;
  o.cache_dir = cache;
  const std::string id = "sha256:" + std::string(64, 'a');
  auto p = import_layer_tars({tmp.path() / "base.tar", tmp.path() / "top.tar"}, id, "agent", "dev + agent-cli@1.0.0", o);
  INFO((p ? std::string() : p.error().render()));
  REQUIRE(p);
  CHECK(p->id == id);
  CHECK_FALSE(p->reused);
  Ext4 disk(p->root_disk);
  CHECK(disk.exists("/usr/bin/tool"));
  CHECK(disk.cat("/usr/local/lib/node_modules/agent-cli/cli.js") == "console.log(1)\n");
  CHECK(disk.stat("/usr/local/bin/agent-cli").type == "symlink");
  // The second time nothing is unpacked: the id is the cache key.
  fs::remove(tmp.path() / "top.tar");
  auto again = import_layer_tars({tmp.path() / "base.tar", tmp.path() / "top.tar"}, id, "agent", "dev + agent-cli@1.0.0", o);
  REQUIRE(again);
  CHECK(again->reused);
  auto listed = list_images(cache, {});
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().format == "agent");
  CHECK(listed->front().references == std::vector<std::string>{"dev + agent-cli@1.0.0"});
}
