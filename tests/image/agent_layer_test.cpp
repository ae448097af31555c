// pack_agent_layer: the npm prefix a build VM wrote (hostile) packed into a clean layer tar, and
// the root disk built from a tree with hard links.
#include <catch2/catch.hpp>

#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/agent_layer.h"
#include "image/disk.h"
#include "image_fixtures.h"

namespace fs = std::filesystem;
using namespace sbx::image;
using namespace sbx::image::test;

TEST_CASE("an agent layer keeps files, symlinks and hard links, owned by root, without set-id bits", "[image][agent_layer]") {
  TempDir t;
  const fs::path prefix = t.path() / "prefix";
  write_file(prefix / "lib/node_modules/tool/native/tool", "BINARY");
  fs::create_directories(prefix / "bin");
  fs::create_hard_link(prefix / "lib/node_modules/tool/native/tool", prefix / "lib/node_modules/tool/tool.exe");
  fs::create_symlink("../lib/node_modules/tool/tool.exe", prefix / "bin/tool");
  fs::create_symlink("/etc/shadow", prefix / "bin/outside");
  write_file(prefix / "bin/setuid", "x");
  ::chmod((prefix / "bin/setuid").c_str(), 04777);
  REQUIRE(::mkfifo((prefix / "bin/fifo").c_str(), 0644) == 0);

  const fs::path tar = t.path() / "layer.tar";
  const auto stats = pack_agent_layer(prefix, tar);
  REQUIRE(stats.has_value());
  CHECK(stats->hardlinks == 1);
  CHECK(stats->skipped == 1);  // the FIFO
  CHECK(stats->bytes == 6 + 1);
  const auto entries = read_tar(tar);
  // The directory walk is sorted, so lib/.../native/tool comes before lib/.../tool.exe.
  const auto& first = entries.at("usr/local/lib/node_modules/tool/native/tool");
  CHECK(first.type == AE_IFREG);
  CHECK(first.data == "BINARY");
  const auto& second = entries.at("usr/local/lib/node_modules/tool/tool.exe");
  CHECK(second.hardlink == "usr/local/lib/node_modules/tool/native/tool");
  CHECK(second.data.empty());
  CHECK(entries.at("usr/local/bin/tool").symlink == "../lib/node_modules/tool/tool.exe");
  CHECK(entries.at("usr/local/bin/outside").symlink == "/etc/shadow");  // a link, resolved in the guest only
  CHECK(entries.at("usr/local/bin/setuid").perm == 0755);
  CHECK_FALSE(entries.contains("usr/local/bin/fifo"));
  for (const auto& [path, e] : entries) {
    CHECK(path.rfind("usr", 0) == 0);
    CHECK(e.uid == 0);
    CHECK(e.gid == 0);
  }
}

TEST_CASE("an agent layer's size bound counts a file with several names once", "[image][agent_layer]") {
  TempDir t;
  const fs::path prefix = t.path() / "prefix";
  write_file(prefix / "a", std::string(100, 'x'));
  fs::create_hard_link(prefix / "a", prefix / "b");
  fs::create_hard_link(prefix / "a", prefix / "c");
  CHECK(pack_agent_layer(prefix, t.path() / "ok.tar", {.max_bytes = 150}).has_value());
  write_file(prefix / "d", std::string(100, 'y'));
  const auto over = pack_agent_layer(prefix, t.path() / "over.tar", {.max_bytes = 150});
  REQUIRE_FALSE(over.has_value());
  CHECK(over.error().message.find("larger than") != std::string::npos);
  CHECK_FALSE(fs::exists(t.path() / "over.tar"));
}

TEST_CASE("a root disk keeps hard links as one inode and is sized for the file once", "[image][disk]") {
  TempDir t;
  const fs::path dir = t.path() / "root";
  const std::string big(32 << 20, 'z');
  write_file(dir / "usr/bin/big", big);
  for (int i = 0; i < 3; ++i) fs::create_hard_link(dir / "usr/bin/big", dir / ("usr/bin/big" + std::to_string(i)));
  const fs::path image = t.path() / "root.ext4";
  REQUIRE(make_image_disk(dir, image, nullptr).has_value());
  const Ext4 disk(image);
  const auto a = disk.stat("/usr/bin/big"), b = disk.stat("/usr/bin/big2");
  CHECK(a.type == "regular");
  CHECK(a.inode == b.inode);
  CHECK(a.links == 4);
  // Counted four times the disk would be over 128 MiB; once, it is the file plus slack.
  CHECK(fs::file_size(image) < (80ull << 20));
}
