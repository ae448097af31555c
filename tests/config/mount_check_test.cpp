// Host-side mount checks `sbx up` makes before booting, and the order the guest mounts in.
#include <catch2/catch.hpp>
#include <fstream>
#include <unistd.h>

#include "config/mount_check.h"

using namespace sbx;
namespace fs = std::filesystem;

namespace {

config::Mount mount(const fs::path& source, const std::string& target, int line) {
  config::Mount m;
  m.source = source;
  m.target = target;
  m.location = Location{"Sandboxfile", line, 1};
  return m;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/sbx-mount-check-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("existing directories pass the mount check", "[config][mount]") {
  TempDir t;
  fs::create_directories(t.path / "a" / "inner");
  config::Sandboxfile f;
  f.mounts = {mount(t.path / "a", "/workspace", 3), mount(t.path, "/workspace/inner", 7)};
  CHECK(config::check_mount_sources(f, {}).has_value());
}

TEST_CASE("every mount problem is reported with its line and a fix", "[config][mount]") {
  TempDir t;
  fs::create_directories(t.path / "outer");
  fs::create_directories(t.path / "other");
  fs::create_directories(t.path / "private" / "secrets");
  std::ofstream(t.path / "file.txt") << "x";
  config::Sandboxfile f;
  f.mounts = {mount(t.path / "missing", "/a", 3), mount(t.path / "file.txt", "/b", 6), mount(t.path / "outer", "/c", 9),
              mount(t.path / "other", "/c/inner", 12), mount(t.path / "private", "/d", 15)};
  const auto r = config::check_mount_sources(f, {t.path / "private" / "secrets"});
  REQUIRE_FALSE(r.has_value());
  const auto& d = r.error().details;
  REQUIRE(d.size() == 4);
  CHECK(d[0].location.line == 3);
  CHECK(d[0].message.find("does not exist") != std::string::npos);
  CHECK(d[1].location.line == 6);
  CHECK(d[1].hint.find("single files are not supported") != std::string::npos);
  CHECK(d[2].location.line == 15);
  CHECK(d[2].message.find("contains sbx's own files") != std::string::npos);
  CHECK(d[3].location.line == 12);
  CHECK(d[3].hint.find("create " + (t.path / "outer" / "inner").string()) != std::string::npos);
  // One directory containing the other counts either way round (a source inside sbx's state too).
  config::Sandboxfile inside;
  inside.mounts = {mount(t.path / "private" / "secrets", "/s", 2)};
  CHECK_FALSE(config::check_mount_sources(inside, {t.path / "private"}).has_value());
}

TEST_CASE("outer targets are mounted before the targets nested in them", "[config][mount]") {
  const auto order = config::mount_order({mount("/h/git", "/workspace/.git", 1), mount("/h/cache", "/cache", 2),
                                          mount("/h", "/workspace", 3)});
  REQUIRE(order.size() == 3);
  CHECK(order[0].target == "/cache");
  CHECK(order[1].target == "/workspace");
  CHECK(order[2].target == "/workspace/.git");
}
