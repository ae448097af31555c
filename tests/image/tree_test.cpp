// Layers applied to a directory: whiteouts, opaque directories, links, owners, and layers that
// try to escape the tree through symlinks, "..", absolute paths or hard links.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/safe_fs.h"
#include "image/tree.h"
#include "image_fixtures.h"

namespace fs = std::filesystem;
using namespace sbx::image;
using namespace sbx::image::test;

namespace {

struct Fixture {
  TempDir tmp;
  fs::path root = tmp.path() / "root";
  fs::path outside = tmp.path() / "outside";
  int layers = 0;
  TreeBuilder builder;
  explicit Fixture(bool restore_owners = true) : builder(make(restore_owners)) {}
  TreeBuilder make(bool restore_owners) {
    fs::create_directories(root);
    fs::create_directories(outside);
    write_file(outside / "secret", "host file");
    auto b = TreeBuilder::open(root, restore_owners, 1ull << 30);
    REQUIRE(b);
    return std::move(*b);
  }
  sbx::Result<void> apply(const std::vector<Member>& members, const std::string& compression = "") {
    const fs::path file = tmp.path() / ("layer" + std::to_string(layers++));
    write_tar(file, members, compression);
    sbx::Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    return builder.apply(fd.get(), file.filename().string());
  }
};

}  // namespace

TEST_CASE("layers apply in order and a later file replaces an earlier one", "[image][tree]") {
  Fixture f;
  REQUIRE(f.apply({{"etc", 'd', "", 0755}, {"etc/motd", 'f', "one"}, {"bin", 'd', "", 0755}, {"bin/tool", 'f', "x", 0755}}));
  REQUIRE(f.apply({{"etc/motd", 'f', "two"}}, "gzip"));
  REQUIRE(f.apply({{"etc/issue", 'f', "three"}}, "zstd"));
  CHECK(read_file(f.root / "etc/motd") == "two");
  CHECK(read_file(f.root / "etc/issue") == "three");
  CHECK((fs::status(f.root / "bin/tool").permissions() & fs::perms::owner_exec) != fs::perms::none);
}

TEST_CASE("a whiteout removes a file or a whole directory of a lower layer", "[image][tree]") {
  Fixture f;
  REQUIRE(f.apply({{"a", 'd', "", 0755}, {"a/keep", 'f', "k"}, {"a/gone", 'f', "g"}, {"d", 'd', "", 0755},
                   {"d/sub", 'd', "", 0755}, {"d/sub/f", 'f', "f"}}));
  REQUIRE(f.apply({{"a/.wh.gone", 'f', ""}, {".wh.d", 'f', ""}}));
  CHECK(fs::exists(f.root / "a/keep"));
  CHECK_FALSE(fs::exists(f.root / "a/gone"));
  CHECK_FALSE(fs::exists(f.root / "a/.wh.gone"));
  CHECK_FALSE(fs::exists(f.root / "d"));
  CHECK(f.builder.stats().whiteouts == 2);
}

TEST_CASE("an opaque directory hides every lower entry but keeps its own layer's entries", "[image][tree]") {
  Fixture f;
  REQUIRE(f.apply({{"o", 'd', "", 0755}, {"o/old", 'f', "old"}, {"o/dir", 'd', "", 0755}, {"o/dir/deep", 'f', "d"}}));
  // The marker may come after entries of the same layer: they must survive it.
  REQUIRE(f.apply({{"o", 'd', "", 0755}, {"o/new", 'f', "new"}, {"o/.wh..wh..opq", 'f', ""}, {"o/later", 'f', "l"}}));
  CHECK(fs::exists(f.root / "o/new"));
  CHECK(fs::exists(f.root / "o/later"));
  CHECK_FALSE(fs::exists(f.root / "o/old"));
  CHECK_FALSE(fs::exists(f.root / "o/dir"));
  CHECK_FALSE(fs::exists(f.root / "o/.wh..wh..opq"));
}

TEST_CASE("symlinks and hard links are kept as links", "[image][tree]") {
  Fixture f;
  REQUIRE(f.apply({{"bin", 'd', "", 0755}, {"bin/busybox", 'f', "BB", 0755}, {"bin/sh", 'l', "busybox"},
                   {"bin/ls", 'h', "bin/busybox"}, {"abs", 'l', "/etc/passwd"}}));
  CHECK(fs::read_symlink(f.root / "bin/sh") == "busybox");
  CHECK(fs::read_symlink(f.root / "abs") == "/etc/passwd");
  CHECK(fs::equivalent(f.root / "bin/ls", f.root / "bin/busybox"));
  CHECK(fs::hard_link_count(f.root / "bin/busybox") == 2);
}

TEST_CASE("owners and setuid modes survive when unpacking as root", "[image][tree]") {
  if (::geteuid() != 0) {
    WARN("skipped: needs root to chown");
    return;
  }
  Fixture f;
  REQUIRE(f.apply({{"home", 'd', "", 0755}, {"home/u", 'd', "", 0750, 1234, 5678}, {"home/u/f", 'f', "x", 04755, 1234, 5678}}));
  struct stat st{};
  REQUIRE(::lstat((f.root / "home/u/f").c_str(), &st) == 0);
  CHECK(st.st_uid == 1234);
  CHECK(st.st_gid == 5678);
  CHECK((st.st_mode & 07777) == 04755);
}

TEST_CASE("without chown the layers' owners and modes are recorded for the disk", "[image][tree]") {
  Fixture f(false);
  REQUIRE(f.apply({{"x", 'd', "", 0500, 7, 8}, {"x/f", 'f', "x", 0400, 9, 10}}));
  REQUIRE(f.apply({{"x/g", 'f', "second layer writes into a 0500 directory"}}));
  const auto& m = f.builder.meta();
  REQUIRE(m.count("x/f"));
  CHECK(m.at("x/f").uid == 9);
  CHECK(m.at("x/f").gid == 10);
  CHECK((m.at("x/f").mode & 07777) == 0400);
  CHECK((m.at("x").mode & 07777) == 0500);
  CHECK(fs::exists(f.root / "x/g"));
}

TEST_CASE("extended attributes are kept", "[image][tree]") {
  Fixture f;
  REQUIRE(f.apply({{"f", 'f', "x", 0644, 0, 0, {{"user.sbx", "value"}}}}));
  char buf[64] = {};
  const ssize_t n = ::lgetxattr((f.root / "f").c_str(), "user.sbx", buf, sizeof buf);
  if (n < 0 && errno == ENOTSUP) {
    WARN("skipped: this file system has no user xattrs");
    return;
  }
  CHECK(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0) == "value");
}

TEST_CASE("a layer cannot write through a symlink it planted", "[image][tree][security]") {
  Fixture f;
  const std::string out = f.outside.string();
  auto r = f.apply({{"escape", 'l', out}, {"escape/pwned", 'f', "x"}});
  CHECK_FALSE(r);
  CHECK_FALSE(fs::exists(f.outside / "pwned"));
  // Nor through one a lower layer planted, nor with a relative link climbing out.
  Fixture g;
  REQUIRE(g.apply({{"up", 'l', "../../outside"}}));
  CHECK_FALSE(g.apply({{"up/pwned", 'f', "x"}}));
  CHECK_FALSE(fs::exists(g.outside / "pwned"));
  CHECK(read_file(g.outside / "secret") == "host file");
}

TEST_CASE("a layer cannot overwrite a file outside through a final symlink", "[image][tree][security]") {
  Fixture f;
  REQUIRE(f.apply({{"link", 'l', (f.outside / "secret").string()}}));
  // Writing "link" replaces the symlink itself; the target is untouched.
  REQUIRE(f.apply({{"link", 'f', "replaced"}}));
  CHECK(read_file(f.outside / "secret") == "host file");
  CHECK(read_file(f.root / "link") == "replaced");
}

TEST_CASE("dot-dot and absolute member names are refused", "[image][tree][security]") {
  Fixture f;
  CHECK_FALSE(f.apply({{"../outside/pwned", 'f', "x"}}));
  CHECK_FALSE(f.apply({{"a/../../outside/pwned", 'f', "x"}}));
  CHECK_FALSE(fs::exists(f.outside / "pwned"));
  // A leading '/' means the image root, never the host's.
  REQUIRE(f.apply({{"/abs-file", 'f', "x"}}));
  CHECK(fs::exists(f.root / "abs-file"));
}

TEST_CASE("a hard link may not reach outside the tree or through a symlink", "[image][tree][security]") {
  Fixture f;
  CHECK_FALSE(f.apply({{"h", 'h', "../outside/secret"}}));
  Fixture g;
  REQUIRE(g.apply({{"dir", 'l', g.outside.string()}}));
  CHECK_FALSE(g.apply({{"h", 'h', "dir/secret"}}));
  CHECK_FALSE(fs::exists(g.root / "h"));
}

TEST_CASE("a whiteout cannot delete through a symlink", "[image][tree][security]") {
  Fixture f;
  REQUIRE(f.apply({{"dir", 'l', f.outside.string()}}));
  CHECK_FALSE(f.apply({{"dir/.wh.secret", 'f', ""}}));
  CHECK(fs::exists(f.outside / "secret"));
  Fixture g;
  REQUIRE(g.apply({{"dir", 'l', g.outside.string()}}));
  CHECK_FALSE(g.apply({{"dir/.wh..wh..opq", 'f', ""}}));
  CHECK(fs::exists(g.outside / "secret"));
}

TEST_CASE("device nodes in a layer are skipped", "[image][tree]") {
  Fixture f;
  REQUIRE(f.apply({{"dev", 'd', "", 0755}, {"dev/null", 'c', ""}, {"ok", 'f', "x"}}));
  CHECK_FALSE(fs::exists(fs::symlink_status(f.root / "dev/null")));
  CHECK(f.builder.stats().skipped_devices == 1);
}

TEST_CASE("a directory replaces a file and a file replaces a directory", "[image][tree]") {
  Fixture f;
  REQUIRE(f.apply({{"x", 'f', "file"}, {"y", 'd', "", 0755}, {"y/inner", 'f', "i"}}));
  REQUIRE(f.apply({{"x", 'd', "", 0755}, {"x/in", 'f', "now a dir"}, {"y", 'f', "now a file"}}));
  CHECK(fs::is_directory(f.root / "x"));
  CHECK(read_file(f.root / "y") == "now a file");
}

TEST_CASE("a corrupt layer is refused", "[image][tree]") {
  Fixture f;
  const fs::path bad = f.tmp.path() / "bad";
  write_tar(bad, {{"a", 'f', std::string(100000, 'a')}}, "gzip");
  std::string bytes = read_file(bad);
  bytes.resize(bytes.size() / 2);
  write_file(bad, bytes);
  sbx::Fd fd(::open(bad.c_str(), O_RDONLY | O_CLOEXEC));
  CHECK_FALSE(f.builder.apply(fd.get(), "bad"));
}

TEST_CASE("member names are normalised and link targets resolved inside the root", "[image][tree]") {
  CHECK(clean_member_path("./a//b/./c/") == "a/b/c");
  CHECK(clean_member_path("/etc/passwd") == "etc/passwd");
  CHECK(clean_member_path("./") == "");
  CHECK_FALSE(clean_member_path("a/../b"));
  CHECK_FALSE(clean_member_path(std::string("a\nb")));
  CHECK(resolve_link_target("a/b/link", "../c") == "a/c");
  CHECK(resolve_link_target("a/link", "/x/y") == "x/y");
  CHECK_FALSE(resolve_link_target("a/link", "../../x"));
}
