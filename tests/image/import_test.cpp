// Whole imports: OCI layouts (directory and tar), docker save archives and rootfs directories
// into cached ext4 disks; digests, corrupt metadata, reuse and the guest's additions.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/cache.h"
#include "image/image.h"
#include "image_fixtures.h"

namespace fs = std::filesystem;
using namespace sbx::image;
using namespace sbx::image::test;

namespace {

ImageSpec two_layer_spec() {
  ImageSpec s;
  s.layers = {{{"bin", 'd', "", 0755},
               {"bin/tool", 'f', "#!/bin/sh\necho hi\n", 0755, 1000, 1000},
               {"etc", 'd', "", 0755},
               {"etc/passwd", 'f', "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n"},
               {"etc/group", 'f', "root:x:0:\nnode:x:1000:\n"},
               {"data", 'd', "", 0755},
               {"data/deleted", 'f', "lower"},
               {"data/kept", 'f', "kept", 0640, 1000, 1000},
               {"bin/link", 'h', "bin/tool"}},
              {{"data/.wh.deleted", 'f', ""}, {"data/upper", 'f', "upper"}, {"sh", 'l', "/bin/tool"}}};
  s.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=hello"};
  s.working_dir = "/data";
  s.user = "node";
  s.entrypoint = {"/bin/tool"};
  s.cmd = {"--flag"};
  return s;
}

ImportOptions options(const fs::path& cache) {
  ImportOptions o;
  o.cache_dir = cache;
  return o;
}

void check_tree(const PreparedImage& p) {
  Ext4 disk(p.root_disk);
  INFO(disk.run("ls -l /data"));
  CHECK(disk.cat("/data/upper") == "upper");
  CHECK(disk.cat("/data/kept") == "kept");
  CHECK_FALSE(disk.exists("/data/deleted"));
  CHECK_FALSE(disk.exists("/data/.wh.deleted"));
  const auto kept = disk.stat("/data/kept");
  CHECK(kept.uid == 1000);
  CHECK(kept.gid == 1000);
  CHECK((kept.mode & 07777) == 0640);
  CHECK(disk.stat("/bin/tool").links == 2);
  CHECK(disk.stat("/bin/link").uid == 1000);
  CHECK(disk.stat("/bin/tool").inode == disk.stat("/bin/link").inode);
  CHECK(disk.stat("/sh").type == "symlink");
  CHECK(disk.stat("/etc/passwd").uid == 0);
  // uid 1000 is taken by node: the agent user gets the next free id, with its home.
  const std::string passwd = disk.cat("/etc/passwd");
  CHECK(passwd.find("node:x:1000:1000") != std::string::npos);
  CHECK(passwd.find("agent:x:1001:1001:sbx agent:/home/agent:/bin/sh") != std::string::npos);
  CHECK(disk.stat("/home/agent").uid == 1001);
  CHECK(disk.stat("/tmp").mode % 010000 == 01777);
}

}  // namespace

TEST_CASE("an OCI layout directory imports with whiteouts, owners, links and its config", "[image][import]") {
  TempDir tmp;
  const std::string md = write_oci_layout(tmp.path() / "layout", two_layer_spec());
  auto p = import_layout(tmp.path() / "layout", "test", options(tmp.path() / "cache"));
  REQUIRE(p);
  CHECK(p->id == md);
  CHECK_FALSE(p->reused);
  CHECK(p->root_disk == tmp.path() / "cache/images" / ("sha256-" + md.substr(7)) / "rootfs.ext4");
  CHECK(p->config.env == std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=hello"});
  CHECK(p->config.working_dir == "/data");
  CHECK(p->config.user == "node");
  CHECK(p->config.entrypoint == std::vector<std::string>{"/bin/tool"});
  CHECK(p->config.cmd == std::vector<std::string>{"--flag"});
  check_tree(*p);
  struct stat st{};
  REQUIRE(::stat(p->root_disk.c_str(), &st) == 0);
  CHECK((st.st_mode & 0222) == 0);  // shared read-only
}

TEST_CASE("a docker save archive imports the same tree", "[image][import]") {
  TempDir tmp;
  const std::string cd = write_docker_save(tmp.path() / "save", two_layer_spec());
  tar_directory(tmp.path() / "save", tmp.path() / "image.tar");
  auto p = import_archive(tmp.path() / "image.tar", "", options(tmp.path() / "cache"));
  REQUIRE(p);
  CHECK(p->id == cd);
  CHECK(p->config.user == "node");
  check_tree(*p);
}

TEST_CASE("without chown, owners and modes reach the disk through debugfs", "[image][import]") {
  TempDir tmp;
  write_oci_layout(tmp.path() / "layout", two_layer_spec());
  ImportOptions o = options(tmp.path() / "cache");
  o.owners_by_debugfs = true;
  auto p = import_layout(tmp.path() / "layout", "test", o);
  REQUIRE(p);
  check_tree(*p);
}

// How fast reuse is, is a figure of tests/bench/image_bench.cpp; here: that nothing is rebuilt.
TEST_CASE("an OCI layout tar (gzip) imports and is reused from the cache without unpacking again", "[image][import]") {
  TempDir tmp;
  write_oci_layout(tmp.path() / "layout", two_layer_spec());
  tar_directory(tmp.path() / "layout", tmp.path() / "image.tar.gz", "gzip");
  const auto o = options(tmp.path() / "cache");
  auto first = import_archive(tmp.path() / "image.tar.gz", "", o);
  REQUIRE(first);
  CHECK_FALSE(first->reused);
  struct stat before {};
  REQUIRE(::stat(first->root_disk.c_str(), &before) == 0);
  auto again = import_archive(tmp.path() / "image.tar.gz", "", o);
  REQUIRE(again);
  CHECK(again->reused);
  CHECK(again->id == first->id);
  CHECK(again->root_disk == first->root_disk);
  CHECK(again->config.working_dir == "/data");
  // The very same disk file, untouched: no unpack, no mkfs.
  struct stat after {};
  REQUIRE(::stat(again->root_disk.c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  // The image is listed with its reference.
  auto list = list_images(tmp.path() / "cache", {});
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK(list->front().id == first->id);
  CHECK(list->front().references == std::vector<std::string>{(tmp.path() / "image.tar.gz").string()});
  CHECK(list->front().used_by.empty());
}

TEST_CASE("a digest pin on an archive is checked", "[image][import]") {
  TempDir tmp;
  write_oci_layout(tmp.path() / "layout", two_layer_spec());
  tar_directory(tmp.path() / "layout", tmp.path() / "image.tar");
  const auto o = options(tmp.path() / "cache");
  const std::string good = sha256(read_file(tmp.path() / "image.tar"));
  CHECK(import_archive(tmp.path() / "image.tar", good, o));
  auto bad = import_archive(tmp.path() / "image.tar", "sha256:" + std::string(64, '0'), o);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("pins") != std::string::npos);
}

TEST_CASE("a layer whose bytes do not match its digest is refused", "[image][import][security]") {
  TempDir tmp;
  auto spec = two_layer_spec();
  spec.compression = "";
  write_oci_layout(tmp.path() / "layout", spec);
  // Flip one byte of each layer blob: an uncompressed tar still parses, only the digest tells.
  for (const auto& e : fs::directory_iterator(tmp.path() / "layout/blobs/sha256")) {
    std::string b = read_file(e.path());
    if (b.size() < 1024) continue;
    b[600] ^= 1;
    write_file(e.path(), b);
  }
  auto p = import_layout(tmp.path() / "layout", "test", options(tmp.path() / "cache"));
  REQUIRE_FALSE(p);
  CHECK(p.error().message.find("does not match its digest") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp.path() / "cache/images/sha256-"));
}

TEST_CASE("corrupt or hostile metadata is refused with a reason", "[image][import][security]") {
  TempDir tmp;
  const fs::path layout = tmp.path() / "layout";
  write_oci_layout(layout, two_layer_spec());
  const auto o = options(tmp.path() / "cache");
  SECTION("index.json is not JSON") {
    write_file(layout / "index.json", "{\"manifests\": [");
    auto p = import_layout(layout, "t", o);
    REQUIRE_FALSE(p);
    CHECK(p.error().message.find("not valid JSON") != std::string::npos);
  }
  SECTION("a descriptor names a path instead of a digest") {
    write_file(layout / "index.json",
               R"({"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../etc/passwd","size":1}]})");
    auto p = import_layout(layout, "t", o);
    REQUIRE_FALSE(p);
    CHECK(p.error().message.find("digest") != std::string::npos);
  }
  SECTION("no manifest for linux/amd64") {
    auto spec = two_layer_spec();
    spec.architecture = "arm64";
    TempDir other;
    write_oci_layout(other.path(), spec);
    auto p = import_layout(other.path(), "t", o);
    REQUIRE_FALSE(p);
    CHECK(p.error().message.find("linux/amd64") != std::string::npos);
  }
  SECTION("a manifest that does not match its digest") {
    std::string index = read_file(layout / "index.json");
    // Point the index at the config blob while keeping the manifest's digest: sizes differ.
    for (const auto& e : fs::directory_iterator(layout / "blobs/sha256")) {
      const std::string b = read_file(e.path());
      if (b.find("schemaVersion") != std::string::npos) write_file(e.path(), b + " ");
    }
    auto p = import_layout(layout, "t", o);
    REQUIRE_FALSE(p);
  }
  SECTION("neither OCI nor docker") {
    TempDir empty;
    auto p = import_layout(empty.path(), "t", o);
    REQUIRE_FALSE(p);
    CHECK(p.error().message.find("neither an OCI image layout nor a docker save") != std::string::npos);
  }
}

TEST_CASE("an archive member that escapes through a symlink is refused", "[image][import][security]") {
  TempDir tmp;
  // A docker save whose manifest names a layer behind a symlink to the host.
  write_file(tmp.path() / "host-secret", "secret");
  std::vector<Member> members = {
      {"manifest.json", 'f', R"([{"Config":"cfg.json","Layers":["evil/layer.tar"]}])"},
      {"cfg.json", 'f', R"({"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":["sha256:)" + std::string(64, 'a') + R"("]}})"},
      {"evil", 'l', "../../../../../../../../" + tmp.path().string()},
  };
  write_tar(tmp.path() / "evil.tar", members);
  auto p = import_archive(tmp.path() / "evil.tar", "", options(tmp.path() / "cache"));
  REQUIRE_FALSE(p);
  CHECK(p.error().message.find("outside the archive") != std::string::npos);
}

TEST_CASE("a rootfs directory becomes a disk and is reused until it changes", "[image][import]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "rootfs";
  write_file(root / "bin/hello", "hello");
  write_file(root / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000::/home/agent:/bin/sh\n");
  const auto o = options(tmp.path() / "cache");
  auto p = import_rootfs_dir(root, o);
  INFO((p ? std::string() : p.error().message));
  REQUIRE(p);
  Ext4 disk(p->root_disk);
  CHECK(disk.cat("/bin/hello") == "hello");
  CHECK(disk.exists("/proc"));
  // The image's own agent user is kept as it is.
  CHECK(disk.cat("/etc/passwd").find("agent:x:1000:1000::/home/agent") != std::string::npos);
  auto again = import_rootfs_dir(root, o);
  REQUIRE(again);
  CHECK(again->reused);
  write_file(root / "bin/new", "new");
  auto changed = import_rootfs_dir(root, o);
  REQUIRE(changed);
  CHECK_FALSE(changed->reused);
  CHECK(changed->id != p->id);
}

TEST_CASE("a rootfs directory with a dev/fd link to /proc/self/fd is reused by another process", "[image][import]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "rootfs";
  write_file(root / "bin/hello", "hello");
  fs::create_directories(root / "dev");
  fs::create_symlink("/proc/self/fd", root / "dev/fd");  // as every Debian rootfs has it
  const auto o = options(tmp.path() / "cache");
  // The first import runs in a child: another pid, as another `sbx up` would be.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(import_rootfs_dir(root, o) ? 0 : 1);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  auto again = import_rootfs_dir(root, o);
  INFO((again ? std::string() : again.error().message));
  REQUIRE(again);
  CHECK(again->reused);
}

TEST_CASE("image User forms sbx can run are accepted and others refused", "[image][config]") {
  for (const char* ok : {"node", "1000", "1000:1000", "www-data:www-data", "app.user", "_svc:0"}) CHECK(valid_user_spec(ok));
  for (const char* bad : {"", "Root", "a:b:c", "../x", "1000:", ":1000", "12345678901", "name;rm"}) CHECK_FALSE(valid_user_spec(bad));
}
