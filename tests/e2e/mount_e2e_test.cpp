// End to end: [[mount]] through virtio-fs, checked from both sides of one booted sandbox, plus
// the mount errors `sbx up` reports before anything boots and a boot by an unprivileged user.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

#include "host_files.h"
#include "sbx_runner.h"

using namespace sbx::e2e;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The host user the tests pretend to have run `sudo sbx` as (needs no passwd entry).
constexpr uid_t kUser = 4242;
constexpr gid_t kGroup = 4243;

struct stat lstat_of(const fs::path& p) {
  struct stat st{};
  if (::lstat(p.c_str(), &st) != 0) st.st_uid = st.st_gid = static_cast<unsigned>(-1);
  return st;
}

fs::path make_temp_dir() {
  char tmpl[] = "/tmp/sbx-mount-e2e-XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0755);
  return dir;
}

// One sandbox with a read-write share (work -> /workspace) and a read-only one (ro -> /ro), both
// owned by kUser, run as root "through sudo" by kUser; a secret beside the shares, not in them.
struct World {
  fs::path root = make_temp_dir();
  std::string secret = "host-secret-" + std::to_string(::getpid());
  Sbx sbx;
  RunResult up;
  World() {
    fs::create_directories(root / "proj");
    fs::create_directories(root / "work");
    fs::create_directories(root / "ro");
    fs::create_directories(root / "outside");
    write_file(root / "outside" / "secret.txt", secret + "\n");
    write_file(root / "work" / "host.txt", "from the host\n");
    fs::create_symlink(root / "outside" / "secret.txt", root / "work" / "abs-link");
    fs::create_symlink("../outside/secret.txt", root / "work" / "rel-link");
    write_file(root / "ro" / "ro.txt", "read-only\n");
    write_file(root / "work" / "fresh.txt", "first\n");
    chown_tree(root / "work", kUser, kGroup);
    chown_tree(root / "ro", kUser, kGroup);
    write_file(root / "proj" / "Sandboxfile",
          "version = 1\nname = \"mounts\"\n[agent]\ncommand = [\"/bin/true\"]\n"
          "[[mount]]\nsource = \"../work\"\ntarget = \"/workspace\"\nmode = \"rw\"\n"
          "[[mount]]\nsource = \"../ro\"\ntarget = \"/ro\"\ncache = \"always\"\n");
    sbx.env = {"SUDO_UID=" + std::to_string(kUser), "SUDO_GID=" + std::to_string(kGroup)};
    up = sbx.run({"up", "--detach", (root / "proj").string()}, {}, 180s);
  }
  ~World() {
    sbx.run({"down", "--all"}, {}, 60s);
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  RunResult exec(const std::string& script, bool as_root = false) const {
    std::vector<std::string> args = {"exec", "--name", "mounts"};
    if (as_root) args.insert(args.end(), {"--user", "root"});
    args.insert(args.end(), {"--", "sh", "-c", script});
    return sbx.run(args, {}, 60s);
  }
};

World& world() {
  static std::unique_ptr<World> w = std::make_unique<World>();
  return *w;
}

}  // namespace

TEST_CASE("a mount shares a host directory live, as the invoking user, and nothing beyond it", "[e2e][mount]") {
  if (::geteuid() != 0) {
    WARN("needs root to give the shares to another user; skipping");
    return;
  }
  World& w = world();
  INFO("sbx up stderr: " << w.up.err);
  REQUIRE(w.up.code == 0);
  const fs::path work = w.root / "work";

  SECTION("a host file is visible in the guest, where the agent user owns the invoking user's files") {
    const auto r = w.exec("cat /workspace/host.txt; stat -c %u:%g /workspace/host.txt");
    CHECK(r.code == 0);
    CHECK(r.out == "from the host\n1000:1000\n");
  }
  SECTION("a guest write is on the host as soon as the command returns, owned by the invoking user") {
    const auto r = w.exec("echo written in the guest > /workspace/new.txt && mkdir /workspace/dir && id -u");
    CHECK(r.code == 0);
    CHECK(r.out == "1000\n");
    CHECK(read_file(work / "new.txt") == "written in the guest\n");
    CHECK(lstat_of(work / "new.txt").st_uid == kUser);
    CHECK(lstat_of(work / "new.txt").st_gid == kGroup);
    CHECK(lstat_of(work / "dir").st_uid == kUser);
  }
  SECTION("guest root has no host identity: it cannot create files on a share") {
    const auto r = w.exec("touch /workspace/by-root", true);
    CHECK(r.code != 0);
    CHECK_FALSE(fs::exists(work / "by-root"));
  }
  SECTION("a read-only mount refuses writes from guest root, even after a remount read-write in the guest") {
    const auto r = w.exec(
        "for step in 'echo x > /ro/ro.txt' 'touch /ro/new' 'mkdir /ro/d' 'rm /ro/ro.txt'; do"
        "  sh -c \"$step\" 2>/dev/null && echo \"allowed: $step\"; done;"
        "mount -o remount,rw /ro 2>/dev/null && echo remounted;"
        "echo x > /ro/ro.txt 2>/dev/null && echo 'allowed after remount';"
        "touch /ro/new2 2>/dev/null && echo 'created after remount'; cat /ro/ro.txt",
        true);
    INFO(r.out << r.err);
    CHECK(r.out.find("allowed") == std::string::npos);
    CHECK(r.out.find("created") == std::string::npos);
    CHECK(r.out.find("read-only\n") != std::string::npos);
    CHECK(read_file(w.root / "ro" / "ro.txt") == "read-only\n");
    CHECK_FALSE(fs::exists(w.root / "ro" / "new"));
    CHECK_FALSE(fs::exists(w.root / "ro" / "new2"));
    CHECK_FALSE(fs::exists(w.root / "ro" / "d"));
  }
  SECTION("symlinks in a share, the host's or the guest's, do not reach host files outside it") {
    const std::string outside = (w.root / "outside" / "secret.txt").string();
    const auto r = w.exec(
        "cat /workspace/abs-link /workspace/rel-link;"
        "ln -s ../outside/secret.txt /workspace/g-rel; ln -s " + outside + " /workspace/g-abs;"
        "ln -s ../../../../../../../.. /workspace/g-up; ln -s /etc/shadow /workspace/g-shadow;"
        "cat /workspace/g-rel /workspace/g-abs /workspace/g-up" + outside + " /workspace/g-shadow;"
        "cd /workspace/.. && ls; cat /workspace/../outside/secret.txt");
    INFO(r.out << r.err);
    CHECK(r.out.find(w.secret) == std::string::npos);
    CHECK(r.err.find(w.secret) == std::string::npos);
    // The guest's links are stored as links on the host (never followed there by virtiofsd).
    CHECK(fs::is_symlink(work / "g-rel"));
    CHECK(fs::read_symlink(work / "g-abs") == outside);
    CHECK(fs::read_symlink(work / "g-shadow") == "/etc/shadow");
    // /etc/shadow through the link is the guest's own (a busybox image), not the host's.
    const auto shadow = w.exec("cat /workspace/g-shadow 2>/dev/null", true);
    CHECK((shadow.out.empty() || shadow.out != read_file("/etc/shadow")));
  }
  SECTION("each mount's virtiofsd has its cache policy, and with auto a host-side edit reaches the guest") {
    std::map<std::string, std::string> policy;  // source -> cache= option of its virtiofsd
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string cmd = read_file(e.path() / "cmdline");
      if (cmd.find("virtiofsd") == std::string::npos) continue;
      for (const char* source : {"ro", "work"})
        // virtiofsd serves the checked directory at the same path under a tmpfs of its own (vmm::served_path).
        if (cmd.find("source=/tmp/sbx-share" + (w.root / source).string() + '\0') != std::string::npos)
          policy[source] = cmd.find(std::string("cache=always\0", 13)) != std::string::npos ? "always"
                           : cmd.find(std::string("cache=auto\0", 11)) != std::string::npos ? "auto" : "?";
    }
    CHECK(policy["ro"] == "always");
    CHECK(policy["work"] == "auto");
    // The guest reads (and so caches) the file, then the host rewrites it with a new size.
    CHECK(w.exec("cat /workspace/fresh.txt").out == "first\n");
    write_file(work / "fresh.txt", "second, longer\n");
    // cache auto: attributes are trusted for 1 s; poll for at most 5 s.
    const auto r = w.exec("i=0; while [ $i -lt 50 ]; do grep -q second /workspace/fresh.txt && break; i=$((i+1)); sleep 0.1; done;"
                          "cat /workspace/fresh.txt");
    CHECK(r.out == "second, longer\n");
  }
  SECTION("sbx down stops every virtiofsd and removes its socket") {
    const auto r = w.sbx.run({"down", "--name", "mounts"}, {}, 60s);
    CHECK(r.code == 0);
    CHECK(sockets_in(w.sbx.sandbox_dir("mounts")).empty());
    int serving = 0;
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string cmd = read_file(e.path() / "cmdline");
      if (cmd.find("virtiofsd") != std::string::npos && cmd.find(w.root.string()) != std::string::npos) ++serving;
    }
    CHECK(serving == 0);
  }
}

TEST_CASE("bad mounts are reported with their location before anything is built or booted", "[e2e][mount]") {
  const fs::path root = make_temp_dir();
  Sbx sbx;
  fs::create_directories(root / "proj" / "outer");
  write_file(root / "proj" / "file.txt", "x");
  write_file(root / "proj" / "Sandboxfile",
        "version = 1\nname = \"badmounts\"\n"
        "[[mount]]\nsource = \"missing\"\ntarget = \"/a\"\n"      // line 3
        "[[mount]]\nsource = \"file.txt\"\ntarget = \"/b\"\n"     // line 6
        "[[mount]]\nsource = \"outer\"\ntarget = \"/c\"\n"        // line 9
        "[[mount]]\nsource = \".\"\ntarget = \"/c/inner\"\n"      // line 12
        "[[mount]]\nsource = \"" + sbx.state_dir().string() + "\"\ntarget = \"/d\"\n");  // line 15
  const auto r = sbx.run({"up", "--detach", (root / "proj").string()}, {}, 60s);
  INFO(r.err);
  CHECK(r.code == 1);
  CHECK(r.err.find("Sandboxfile:3:1: error: mount source " + (root / "proj" / "missing").string() + " does not exist") !=
        std::string::npos);
  CHECK(r.err.find("Sandboxfile:6:1: error: mount source " + (root / "proj" / "file.txt").string() + " is not a directory") !=
        std::string::npos);
  CHECK(r.err.find("single files are not supported") != std::string::npos);
  CHECK(r.err.find("Sandboxfile:12:1: error: target /c/inner is inside the mount at /c") != std::string::npos);
  CHECK(r.err.find("Sandboxfile:15:1: error: mount source " + sbx.state_dir().string() + " contains sbx's own files") !=
        std::string::npos);
  CHECK(r.err.find("booting") == std::string::npos);
  CHECK_FALSE(fs::exists(sbx.sandbox_dir("badmounts") / "console.log"));
  std::error_code ec;
  fs::remove_all(root, ec);
}

TEST_CASE("an unprivileged user's sandbox serves its mounts from a user namespace", "[e2e][mount]") {
  if (::geteuid() != 0) {
    WARN("needs root to create the unprivileged test user's directories; skipping");
    return;
  }
  const fs::path root = make_temp_dir();
  Sbx sbx;
  sbx.uid = kUser;
  sbx.gid = kGroup;
  // Its own copy of the artifact cache: an unprivileged user cannot use root's.
  sbx.cache_dir = root / "cache";
  fs::copy(SBX_E2E_CACHE_DIR, sbx.cache_dir, fs::copy_options::recursive);
  fs::create_directories(root / "home");
  fs::create_directories(root / "proj" / "src");
  write_file(root / "proj" / "Sandboxfile",
        "version = 1\nname = \"unpriv\"\n[[mount]]\nsource = \"src\"\ntarget = \"/workspace\"\nmode = \"rw\"\n");
  sbx.env = {"HOME=" + (root / "home").string()};
  chown_tree(root, kUser, kGroup);
  REQUIRE(::chown(sbx.state_dir().c_str(), kUser, kGroup) == 0);
  // A user in supplementary groups cannot run Debian's virtiofsd (it drops them): a clear error
  // before QEMU starts.
  sbx.supplementary_group = true;
  const auto refused = sbx.run({"up", "--detach", (root / "proj").string()}, {}, 180s);
  CHECK(refused.code == 1);
  CHECK(refused.err.find("virtiofsd drops all supplementary groups") != std::string::npos);
  CHECK(refused.err.find("run sbx through sudo") != std::string::npos);  // the fix travels in the message
  CHECK(read_file(sbx.sandbox_dir("unpriv") / "console.log").empty());
  sbx.supplementary_group = false;
  const auto up = sbx.run({"up", "--detach", (root / "proj").string()}, {}, 180s);
  INFO(up.err);
  REQUIRE(up.code == 0);
  const auto r = sbx.run({"exec", "--name", "unpriv", "--", "sh", "-c", "echo hi > /workspace/x && cat /workspace/x"}, {}, 60s);
  CHECK(r.code == 0);
  CHECK(r.out == "hi\n");
  CHECK(read_file(root / "proj" / "src" / "x") == "hi\n");
  CHECK(lstat_of(root / "proj" / "src" / "x").st_uid == kUser);
  CHECK(sbx.run({"down", "--name", "unpriv"}, {}, 60s).code == 0);
  std::error_code ec;
  fs::remove_all(root, ec);
}
