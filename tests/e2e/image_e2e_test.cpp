// End to end: a sandbox boots from a docker save archive built here (busybox-static in one
// layer, a whiteout in the next) and runs the image's Entrypoint/Cmd as its User in its
// WorkingDir with its Env; the deleted file is gone and the upper layer's file is there.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "sbx_runner.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sbx::e2e::Sbx;

namespace {

void write(const fs::path& p, const std::string& text, fs::perms perms = fs::perms(0644)) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
  fs::permissions(p, perms);
}

std::string run_text(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
    ::pclose(f);
  }
  return out;
}

std::string sha256_file(const fs::path& p) { return "sha256:" + run_text("sha256sum '" + p.string() + "'").substr(0, 64); }

// A layer tar of directory `dir`, owners numeric root except what `dir` says.
void tar_layer(const fs::path& dir, const fs::path& out) {
  REQUIRE(std::system(("tar --numeric-owner --owner=0 --group=0 -C '" + dir.string() + "' -cf '" + out.string() + "' .").c_str()) == 0);
}

// docker save layout: manifest.json, <config>.json, layerN/layer.tar; returns the archive.
fs::path build_image(const fs::path& work) {
  const fs::path l1 = work / "l1", l2 = work / "l2", save = work / "save";
  const std::string busybox = std::getenv("SBX_BUSYBOX") ? std::getenv("SBX_BUSYBOX") : "/bin/busybox";
  fs::create_directories(l1 / "bin");
  fs::copy_file(busybox, l1 / "bin/busybox");
  fs::permissions(l1 / "bin/busybox", fs::perms(0755));
  for (const char* applet : {"sh", "ls", "cat", "id", "test", "grep"}) fs::create_symlink("busybox", l1 / "bin" / applet);
  write(l1 / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nworker:x:1234:1234:image user:/home/worker:/bin/sh\n");
  write(l1 / "etc/group", "root:x:0:\nworker:x:1234:\n");
  write(l1 / "srv/app/deleted", "lower layer\n");
  write(l1 / "srv/app/kept", "kept\n");
  write(l2 / "srv/app/.wh.deleted", "");
  write(l2 / "srv/app/upper", "from the upper layer\n");
  fs::create_directories(save / "layer1");
  fs::create_directories(save / "layer2");
  tar_layer(l1, save / "layer1/layer.tar");
  tar_layer(l2, save / "layer2/layer.tar");
  const nlohmann::json config = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"config",
       {{"Env", {"PATH=/bin", "GREETING=hello-from-image"}},
        {"WorkingDir", "/srv/app"},
        {"User", "worker"},
        {"Entrypoint", {"/bin/sh", "-c"}},
        {"Cmd", {"echo \"greeting=$GREETING\"; echo \"pwd=$(pwd)\"; echo \"user=$(id -un)\"; ls; cat upper"}}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {sha256_file(save / "layer1/layer.tar"), sha256_file(save / "layer2/layer.tar")}}}}};
  write(save / "config.json", config.dump());
  write(save / "manifest.json",
        nlohmann::json::array({{{"Config", "config.json"}, {"RepoTags", {"e2e:latest"}}, {"Layers", {"layer1/layer.tar", "layer2/layer.tar"}}}}).dump());
  const fs::path archive = work / "project/image.tar";
  fs::create_directories(archive.parent_path());
  REQUIRE(std::system(("tar -C '" + save.string() + "' -cf '" + archive.string() + "' .").c_str()) == 0);
  return archive;
}

}  // namespace

TEST_CASE("a sandbox boots from a docker save archive with the image's tree, Env, WorkingDir, User and command", "[e2e][image]") {
  char tmpl[] = "/tmp/sbx-image-e2e-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  const fs::path work = tmpl;
  build_image(work);
  const fs::path project = work / "project";
  // No [agent] section: the image's Entrypoint/Cmd, User and WorkingDir apply.
  write(project / "Sandboxfile", "version = 1\nname = \"imagee2e\"\n\n[image]\nref = \"./image.tar\"\n\n[resources]\nmemory = \"256MiB\"\n");
  Sbx sbx;
  const auto up = sbx.run({"up"}, {}, 300s, project);
  INFO("sbx up stderr: " << up.err);
  CHECK(up.code == 0);
  CHECK(up.out.find("greeting=hello-from-image\n") != std::string::npos);
  CHECK(up.out.find("pwd=/srv/app\n") != std::string::npos);
  CHECK(up.out.find("user=worker\n") != std::string::npos);
  CHECK(up.out.find("kept\nupper\nfrom the upper layer\n") != std::string::npos);
  CHECK(up.out.find("deleted") == std::string::npos);
  if (up.code == 0) {
    // exec without --user/--workdir gets the same defaults; the image's files keep their owners.
    const auto r = sbx.run({"exec", "--name", "imagee2e", "--", "sh", "-c",
                            "id -u; pwd; test -e /srv/app/deleted && echo still-there; grep -c '^agent:' /etc/passwd"},
                           {}, 60s);
    CHECK(r.code == 0);
    CHECK(r.out == "1234\n/srv/app\n1\n");
    const auto ls = sbx.run({"image", "ls", "--json"}, {}, 30s);
    CHECK(ls.code == 0);
    CHECK(ls.out.find("imagee2e") != std::string::npos);  // used by the running sandbox
    const auto rm = sbx.run({"image", "rm", (project / "image.tar").string()}, {}, 30s);
    CHECK(rm.code == 1);  // in use
    CHECK(rm.err.find("used by running sandbox imagee2e") != std::string::npos);
  }
  CHECK(sbx.run({"down", "--name", "imagee2e"}, {}, 60s).code == 0);
  // Stopped, the image is no longer held: rm (by the archive path it came from) deletes it.
  if (up.code == 0) {
    const auto rm = sbx.run({"image", "rm", "--json", (project / "image.tar").string()}, {}, 30s);
    INFO("image rm: " << rm.out << rm.err);
    CHECK(rm.code == 0);
    CHECK(rm.out.find("\"removed\"") != std::string::npos);
  }
  std::error_code ec;
  fs::remove_all(work, ec);
}
