#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <sys/stat.h>

#include "guest/host/cpio.h"
#include "guest/host/initramfs.h"
#include "guest/host/tool.h"

using namespace sbx::guest;

TEST_CASE("the cpio writer's archive reads back entry by entry", "[guest][cpio]") {
  CpioWriter w;
  w.add_dir("lib", 0755);
  w.add_file("init", std::string("\x7f" "ELF\0binary", 10), 0755);
  w.add_file("lib/odd", "abc", 0600);  // lengths not multiple of 4 exercise the padding
  w.add_symlink("bin/sh", "/bin/busybox");
  auto archive = w.finish();
  CHECK(archive.size() % 4 == 0);
  auto entries = read_cpio(archive);
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].name == "lib");
  CHECK(S_ISDIR(entries[0].mode));
  CHECK(entries[1].name == "init");
  CHECK(entries[1].data == std::string("\x7f" "ELF\0binary", 10));
  CHECK((entries[1].mode & 07777) == 0755);
  CHECK(S_ISREG(entries[2].mode));
  CHECK(entries[2].data == "abc");
  CHECK(S_ISLNK(entries[3].mode));
  CHECK(entries[3].data == "/bin/busybox");
}

TEST_CASE("the same inputs give byte-identical archives", "[guest][cpio]") {
  auto make = [] {
    CpioWriter w;
    w.add_file("a", "1");
    return w.finish();
  };
  CHECK(make() == make());
}

TEST_CASE("GNU cpio lists the archive the writer produced", "[guest][cpio]") {
  auto cpio = find_tool("cpio", "cpio");
  if (!cpio) {
    WARN("cpio not installed; skipping the cross-check with GNU cpio");
    return;
  }
  CpioWriter w;
  w.add_dir("etc");
  w.add_file("etc/hosts", "127.0.0.1 localhost\n");
  w.add_symlink("sh", "busybox");
  auto path = std::filesystem::temp_directory_path() / ("sbx-cpio-test-" + std::to_string(::getpid()) + ".cpio");
  REQUIRE(write_file_atomic(path, w.finish()).has_value());
  auto r = run_tool({"/bin/sh", "-c", *cpio + " -it --quiet < " + path.string()});
  std::filesystem::remove(path);
  REQUIRE(r.has_value());
  CHECK(r->status == 0);
  CHECK(r->output == "etc\netc/hosts\nsh\n");
}

TEST_CASE("read_cpio refuses truncated or foreign archives", "[guest][cpio]") {
  CpioWriter w;
  w.add_file("x", "hello");
  auto a = w.finish();
  CHECK_THROWS(read_cpio(a.substr(0, 50)));
  CHECK_THROWS(read_cpio(a.substr(0, 120)));
  CHECK_THROWS(read_cpio("070707" + std::string(200, '0')));
}
