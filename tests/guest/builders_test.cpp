#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "guest/host/cpio.h"
#include "guest/host/initramfs.h"
#include "guest/host/kernel.h"
#include "guest/host/modules_disk.h"
#include "guest/host/rootfs.h"
#include "common/run_tool.h"
#include "support/temp_dir.h"

using namespace sbx::guest;
using sbx::find_tool;
using sbx::run_tool;
namespace fs = std::filesystem;
using sbx::test::TempDir;


TEST_CASE("the initramfs holds /init, the modules and their load order, and is cached", "[guest][initramfs]") {
  auto kernel = locate_kernel();
  auto agent = agent_binary();
  if (!kernel || !agent) {
    WARN("kernel or agent missing; run ./setup.sh");
    return;
  }
  TempDir tmp;
  std::vector<std::string> lines;
  auto first = build_initramfs(*kernel, *agent, tmp.path(), [&](std::string_view l) { lines.emplace_back(l); });
  REQUIRE(first.has_value());
  CHECK(first->parent_path() == tmp.path() / "initramfs");
  auto entries = read_cpio(*read_file(*first));
  REQUIRE(entries.has_value());
  bool has_init = false;
  std::string order;
  for (const auto& e : *entries) {
    if (e.name == "init") has_init = (e.mode & 0111) != 0;
    if (e.name == kModuleOrderFile) order = e.data;
  }
  CHECK(has_init);
  CHECK(order.find("virtio_ring.ko\n") < order.find("virtio_mmio.ko\n"));
  CHECK(order.find("overlay.ko\n") != std::string::npos);
  auto again = build_initramfs(*kernel, *agent, tmp.path(), [&](std::string_view l) { lines.emplace_back(l); });
  REQUIRE(again.has_value());
  CHECK(*again == *first);
  REQUIRE(lines.size() >= 2);
  CHECK(lines.back().find("cached") != std::string::npos);
}

TEST_CASE("the default root disk is an ext4 image with busybox, the agent user and root-owned files",
          "[guest][rootfs]") {
  if (!find_tool("mkfs.ext4", "e2fsprogs") || !fs::exists("/bin/busybox")) {
    WARN("e2fsprogs or busybox-static missing; run ./setup.sh");
    return;
  }
  TempDir tmp;
  auto image = build_default_rootfs(tmp.path(), {});
  REQUIRE(image.has_value());
  auto debugfs = *find_tool("debugfs", "e2fsprogs");
  auto stat = [&](const std::string& path) {
    auto r = run_tool({debugfs, "-R", "stat " + path, image->string()});
    REQUIRE(r.has_value());
    return r->output;
  };
  CHECK(stat("/bin/busybox").find("User:     0   Group:     0") != std::string::npos);
  CHECK(stat("/home/agent").find("User:  1000   Group:  1000") != std::string::npos);
  auto passwd = run_tool({debugfs, "-R", "cat /etc/passwd", image->string()});
  REQUIRE(passwd.has_value());
  CHECK(passwd->output.find("agent:x:1000:1000:") != std::string::npos);
  auto sh = run_tool({debugfs, "-R", "stat /bin/sh", image->string()});
  CHECK(sh->output.find("Type: symlink") != std::string::npos);
  auto again = build_default_rootfs(tmp.path(), {});
  CHECK(*again == *image);
}

TEST_CASE("the modules disk holds the kernel's whole module tree with depmod's indexes, and is cached", "[guest][docker]") {
  auto kernel = locate_kernel();
  if (!kernel) {
    WARN("kernel missing; run ./setup.sh");
    return;
  }
  if (!find_tool("depmod", "kmod")) {
    WARN("depmod missing; install kmod (./setup.sh does)");
    return;
  }
  TempDir tmp;
  std::vector<std::string> lines;
  auto disk = build_modules_disk(*kernel, tmp.path(), [&](std::string_view l) { lines.emplace_back(l); });
  INFO((disk ? std::string() : disk.error().render()));
  REQUIRE(disk.has_value());
  CHECK(disk->filename().string().starts_with(kernel->version + "-"));
  auto debugfs = find_tool("debugfs", "e2fsprogs");
  REQUIRE(debugfs.has_value());
  // modules.dep names what Docker needs, with paths relative to the tree the guest mounts.
  auto dep = run_tool({*debugfs, "-R", "cat /modules.dep", disk->string()});
  REQUIRE(dep.has_value());
  CHECK(dep->output.find("/br_netfilter.ko:") != std::string::npos);
  CHECK(dep->output.find("kernel/drivers/net/veth.ko:") != std::string::npos);
  CHECK(dep->output.find("/nf_tables.ko:") != std::string::npos);
  auto alias = run_tool({*debugfs, "-R", "stat /modules.alias.bin", disk->string()});
  REQUIRE(alias.has_value());
  CHECK(alias->output.find("Inode:") != std::string::npos);
  // The second build is the cached file, untouched.
  lines.clear();
  auto again = build_modules_disk(*kernel, tmp.path(), [&](std::string_view l) { lines.emplace_back(l); });
  REQUIRE(again.has_value());
  CHECK(*again == *disk);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("cached") != std::string::npos);
}
