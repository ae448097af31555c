#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <sys/stat.h>

#include "guest/host/cpio.h"
#include "guest/host/initramfs.h"
#include "common/atomic_file.h"
#include "common/run_tool.h"
#include "support/temp_dir.h"

using namespace sbx::guest;
using sbx::find_tool;
using sbx::run_tool;
namespace fs = std::filesystem;

namespace {
std::string sample_archive() {
  CpioWriter w;
  w.add_dir("etc");
  w.add_file("etc/hosts", "127.0.0.1 localhost\n");
  w.add_file("init", std::string("\x7f" "ELF\0binary", 10), 0755);
  w.add_file("etc/odd", "abc", 0600);  // lengths not multiple of 4 exercise the padding
  w.add_symlink("sh", "busybox");
  auto a = w.finish();
  REQUIRE(a.has_value());
  return *a;
}

using sbx::test::TempDir;

}  // namespace

TEST_CASE("the cpio writer's archive reads back entry by entry", "[guest][cpio]") {
  const std::string archive = sample_archive();
  CHECK(archive.size() % 4 == 0);
  CHECK(archive.starts_with("070701"));
  auto entries = read_cpio(archive);
  REQUIRE(entries.has_value());
  REQUIRE(entries->size() == 5);
  const auto& e = *entries;
  CHECK(e[0].name == "etc");
  CHECK(S_ISDIR(e[0].mode));
  CHECK(e[1].name == "etc/hosts");
  CHECK(e[1].data == "127.0.0.1 localhost\n");
  CHECK((e[1].mode & 07777) == 0644);
  CHECK(e[2].name == "init");
  CHECK(e[2].data == std::string("\x7f" "ELF\0binary", 10));
  CHECK((e[2].mode & 07777) == 0755);
  CHECK(S_ISREG(e[3].mode));
  CHECK((e[3].mode & 07777) == 0600);
  CHECK(e[3].data == "abc");
  CHECK(S_ISLNK(e[4].mode));
  CHECK(e[4].data == "busybox");
  for (const auto& x : e) CHECK((x.uid == 0 && x.gid == 0));
}

TEST_CASE("the same inputs give byte-identical archives with fixed metadata", "[guest][cpio]") {
  const std::string a = sample_archive();
  CHECK(a == sample_archive());
  // The first header: inode 1, root owned, one link, mtime 0, devices 0 (fields in newc order).
  const std::string_view h(a.data(), 110);
  CHECK(h.substr(6, 8) == "00000001");                                       // ino
  CHECK(h.substr(22, 16) == std::string(16, '0'));                           // uid, gid
  CHECK(h.substr(38, 8) == "00000002");                                      // nlink of a directory
  CHECK(h.substr(46, 8) == std::string(8, '0'));                             // mtime
  CHECK(h.substr(62, 32) == std::string(32, '0'));                           // dev and rdev
  // The archive ends with the trailer, padded to 4 bytes and nothing more (no block padding).
  const auto trailer = a.rfind("TRAILER!!!");
  REQUIRE(trailer != std::string::npos);
  CHECK(a.size() - trailer < 16);
}

TEST_CASE("GNU cpio lists and extracts the archive with the same names, modes and owners", "[guest][cpio]") {
  auto cpio = find_tool("cpio", "cpio");
  if (!cpio) {
    WARN("cpio not installed; skipping the cross-check with GNU cpio");
    return;
  }
  TempDir tmp;
  const fs::path path = tmp.path() / "a.cpio";
  REQUIRE(sbx::write_file_atomic(path, sample_archive()).has_value());
  auto listed = run_tool({"/bin/sh", "-c", *cpio + " -itvn --quiet < " + path.string()});
  REQUIRE(listed.has_value());
  CHECK(listed->status == 0);
  // "drwxr-xr-x   2 0        0               0 Jan  1  1970 etc": mode, links, uid, gid, size, date, name.
  std::vector<std::string> rows;
  std::istringstream lines(listed->output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string perms, links, uid, gid, size, mon, day, year, name, rest;
    f >> perms >> links >> uid >> gid >> size >> mon >> day >> year >> name;
    std::getline(f, rest);
    rows.push_back(perms + " " + uid + ":" + gid + " " + size + " " + name + rest);
  }
  CHECK(rows == std::vector<std::string>{"drwxr-xr-x 0:0 0 etc", "-rw-r--r-- 0:0 20 etc/hosts", "-rwxr-xr-x 0:0 10 init",
                                         "-rw------- 0:0 3 etc/odd", "lrwxrwxrwx 0:0 7 sh -> busybox"});

  const fs::path root = tmp.path() / "root";
  fs::create_directories(root);
  auto extracted = run_tool({"/bin/sh", "-c", "cd " + root.string() + " && " + *cpio +
                                                  " -idm --quiet --no-absolute-filenames < " + path.string()});
  REQUIRE(extracted.has_value());
  CHECK(extracted->status == 0);
  auto content = read_file(root / "etc/hosts");
  REQUIRE(content.has_value());
  CHECK(*content == "127.0.0.1 localhost\n");
  struct stat st{};
  REQUIRE(::stat((root / "init").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  REQUIRE(::stat((root / "etc/odd").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(fs::read_symlink(root / "sh") == "busybox");
}

TEST_CASE("read_cpio refuses truncated or foreign archives", "[guest][cpio]") {
  CpioWriter w;
  w.add_file("x", "hello");
  auto made = w.finish();
  REQUIRE(made.has_value());
  const std::string a = *made;
  REQUIRE(read_cpio(a).has_value());
  CHECK_FALSE(read_cpio(a.substr(0, 50)).has_value());   // inside the first header
  CHECK_FALSE(read_cpio(a.substr(0, 114)).has_value());  // inside the file's data
  CHECK_FALSE(read_cpio(a.substr(0, 120)).has_value());  // the trailer missing
  CHECK_FALSE(read_cpio("070707" + std::string(200, '0')).has_value());  // the old odc format
}

TEST_CASE("a writer is spent after finish", "[guest][cpio]") {
  CpioWriter w;
  w.add_file("a", "1");
  REQUIRE(w.finish().has_value());
  w.add_file("b", "2");
  CHECK_FALSE(w.finish().has_value());
}
