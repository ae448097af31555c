// Host-side mount checks `sbx up` makes before booting, and the order the guest mounts in.
#include <catch2/catch.hpp>
#include <fstream>
#include <unistd.h>

#include "config/mount_check.h"
#include "support/temp_dir.h"

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

using sbx::test::TempDir;

}  // namespace

TEST_CASE("existing directories pass the mount check", "[config][mount]") {
  TempDir t;
  fs::create_directories(t.path() / "a" / "inner");
  config::Sandboxfile f;
  f.mounts = {mount(t.path() / "a", "/workspace", 3), mount(t.path(), "/workspace/inner", 7)};
  CHECK(config::check_mount_sources(f, {}).has_value());
}

TEST_CASE("every mount problem is reported with its line and a fix", "[config][mount]") {
  TempDir t;
  fs::create_directories(t.path() / "outer");
  fs::create_directories(t.path() / "other");
  fs::create_directories(t.path() / "private" / "secrets");
  std::ofstream(t.path() / "file.txt") << "x";
  config::Sandboxfile f;
  f.mounts = {mount(t.path() / "missing", "/a", 3), mount(t.path() / "file.txt", "/b", 6), mount(t.path() / "outer", "/c", 9),
              mount(t.path() / "other", "/c/inner", 12), mount(t.path() / "private", "/d", 15)};
  const auto r = config::check_mount_sources(f, {t.path() / "private" / "secrets"});
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
  CHECK(d[3].hint.find("create " + (t.path() / "outer" / "inner").string()) != std::string::npos);
  // One directory containing the other counts either way round (a source inside sbx's state too).
  config::Sandboxfile inside;
  inside.mounts = {mount(t.path() / "private" / "secrets", "/s", 2)};
  CHECK_FALSE(config::check_mount_sources(inside, {t.path() / "private"}).has_value());
}

TEST_CASE("outer targets are mounted before the targets nested in them", "[config][mount]") {
  const auto order = config::mount_order({mount("/h/git", "/workspace/.git", 1), mount("/h/cache", "/cache", 2),
                                          mount("/h", "/workspace", 3)});
  REQUIRE(order.size() == 3);
  CHECK(order[0].target == "/cache");
  CHECK(order[1].target == "/workspace");
  CHECK(order[2].target == "/workspace/.git");
}

TEST_CASE("a checked mount source becomes its symlink-free path, following links outside the project", "[config][mount][security]") {
  TempDir t;
  const fs::path real = fs::canonical(t.path());
  fs::create_directories(real / "disk" / "cache");
  fs::create_directories(real / "proj");
  // A link the user made above the project and outside any read-write mount: followed.
  fs::create_symlink(real / "disk", real / "home-link");
  config::Sandboxfile f;
  f.project_dir = real / "proj";
  f.mounts = {mount(real / "home-link" / "cache", "/cache", 3), mount(real / "proj", "/workspace", 6)};
  f.mounts[1].writable = true;
  REQUIRE(config::resolve_mount_source(f, f.mounts[0]).value() == real / "disk" / "cache");
  REQUIRE(config::check_mount_sources(f, {}).has_value());
  CHECK(f.mounts[0].source == real / "disk" / "cache");
  CHECK(f.mounts[1].source == real / "proj");
}

TEST_CASE("a symlink the sandbox could have planted in a mount source is refused", "[config][mount][security]") {
  TempDir t;
  const fs::path real = fs::canonical(t.path());
  fs::create_directories(real / "proj" / "sub");
  fs::create_directories(real / "rw" / "deep");
  fs::create_directories(real / "outside");
  // Inside the project directory (the Sandboxfile's), even with no mount of it.
  fs::create_symlink(real / "outside", real / "proj" / "link");
  // Inside a read-write mount's source, as an intermediate component.
  fs::create_symlink(real / "outside", real / "rw" / "swapped");
  config::Sandboxfile f;
  f.project_dir = real / "proj";
  f.mounts = {mount(real / "proj" / "link", "/a", 3), mount(real / "rw", "/rw", 6),
              mount(real / "rw" / "swapped" / ".", "/b", 9), mount(real / "proj" / "sub", "/c", 12)};
  f.mounts[1].writable = true;
  const config::Sandboxfile before = f;
  const auto r = config::check_mount_sources(f, {});
  REQUIRE_FALSE(r.has_value());
  const auto& d = r.error().details;
  REQUIRE(d.size() == 2);
  CHECK(d[0].location.line == 3);
  CHECK(d[0].message == "mount source " + (real / "proj" / "link").string() + " goes through the symlink " +
                            (real / "proj" / "link").string() + " -> " + (real / "outside").string() +
                            ", which is inside the project directory " + (real / "proj").string() +
                            ", where the sandbox could have made it");
  CHECK(d[0].hint.find("write the directory it points to") != std::string::npos);
  CHECK(d[1].location.line == 9);
  CHECK(d[1].message.find("inside the read-write mount source " + (real / "rw").string()) != std::string::npos);
  // Nothing is rewritten when the check fails.
  CHECK(f.mounts[3].source == before.mounts[3].source);
}

TEST_CASE("symlink loops and dangling links in a mount source are reported, not followed forever", "[config][mount]") {
  TempDir t;
  const fs::path real = fs::canonical(t.path());
  fs::create_symlink(real / "loop-b", real / "loop-a");
  fs::create_symlink(real / "loop-a", real / "loop-b");
  fs::create_symlink(real / "nowhere", real / "dangling");
  config::Sandboxfile f;
  f.mounts = {mount(real / "loop-a", "/a", 3), mount(real / "dangling", "/b", 6)};
  const auto r = config::check_mount_sources(f, {});
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().details.size() == 2);
  CHECK(r.error().details[0].message.find("too many levels of symlinks") != std::string::npos);
  CHECK(r.error().details[1].message.find("does not exist") != std::string::npos);
}
