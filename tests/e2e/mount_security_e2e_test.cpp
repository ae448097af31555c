// End to end: what a guest can make of a read-write share on the host, for each way sbx is run
// (root without sudo, root through sudo, an ordinary user), from the agent user (uid 1000) and
// from guest root: no set-uid or set-gid file, no file capability, no file given away. And a mount
// source that the guest swaps for a symlink to a directory outside the project.
#include <catch2/catch.hpp>
#include <fstream>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "host_files.h"
#include "sbx_runner.h"

using namespace sbx::e2e;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The host user of the sudo and ordinary-user cases (needs no passwd entry).
constexpr uid_t kUser = 4242;
constexpr gid_t kGroup = 4243;

enum class RunAs { root, sudo, user };

// A test's directory, removed however the test ends (declared before its Sbx, which stops the
// sandbox first).
struct TempRoot {
  fs::path path;
  TempRoot() {
    char tmpl[] = "/tmp/sbx-mount-sec-e2e-XXXXXX";
    path = ::mkdtemp(tmpl);
    ::chmod(path.c_str(), 0755);
  }
  ~TempRoot() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// The agent's attempts, in /workspace. `cat` copies busybox (cp might keep a link).
constexpr const char* kAgentScript =
    "cd /workspace || exit 99\n"
    "for f in a-suid a-sgid a-both r-suid r-sgid r-both r-owned; do cat /bin/sh > $f; done\n"
    "mkdir a-dir r-dir; touch r-plain\n"
    "chmod 4755 a-suid; chmod 2755 a-sgid; chmod u+s,g+s a-both; chmod g+s a-dir\n"
    "mkdir -m 2775 a-dir-sgid\n"
    "chown 0:0 a-suid\n"
    "./probe /workspace a-\n"
    "echo agent >> host-suid-agent\n"
    "ls -ln /workspace\n";

// Guest root's attempts on the agent's files (guest root cannot create files on a share).
constexpr const char* kRootScript =
    "cd /workspace || exit 99\n"
    "chmod 4755 r-suid; chmod 2755 r-sgid; chmod 6755 r-both; chmod g+s r-dir\n"
    "chown 0:0 r-owned; chown 1000:0 r-plain\n"
    "touch r-by-root; mkdir r-dir-by-root\n"
    "./probe /workspace r-\n"
    "echo root >> host-suid-root\n"
    "ls -ln /workspace\n";

// Boot one sandbox sharing <root>/work read-write, run as `as`; the agent and guest root try to
// make privileged files there; then the host looks at every file.
void check_share(RunAs as, const std::string& name) {
  const TempRoot temp;
  const fs::path& root = temp.path;
  const fs::path work = root / "work";
  const uid_t owner = as == RunAs::root ? 0 : kUser;  // whom the share is served as
  const gid_t group = as == RunAs::root ? 0 : kGroup;
  Sbx sbx;
  fs::create_directories(root / "proj");
  fs::create_directories(work);
  fs::copy_file(SBX_E2E_SHARE_PROBE, work / "probe");
  write_file(work / "host-suid-agent", "host\n");
  write_file(work / "host-suid-root", "host\n");
  write_file(root / "proj" / "Sandboxfile",
        "version = 1\nname = \"" + name + "\"\n[agent]\ncommand = [\"/bin/true\"]\n"
        "[[mount]]\nsource = \"../work\"\ntarget = \"/workspace\"\nmode = \"rw\"\n");
  chown_tree(work, owner, group);
  // Set-uid files the host user made: a guest's write must clear the bit (chown cleared it above).
  REQUIRE(::chmod((work / "host-suid-agent").c_str(), 04755) == 0);
  REQUIRE(::chmod((work / "host-suid-root").c_str(), 04755) == 0);
  if (as == RunAs::root) {
    sbx.env = {"SUDO_UID=", "SUDO_GID="};  // root as such, not through sudo
  } else if (as == RunAs::sudo) {
    sbx.env = {"SUDO_UID=" + std::to_string(kUser), "SUDO_GID=" + std::to_string(kGroup)};
  } else {
    sbx.uid = kUser;
    sbx.gid = kGroup;
    sbx.cache_dir = root / "cache";  // an unprivileged user cannot use root's artifact cache
    fs::copy(SBX_E2E_CACHE_DIR, sbx.cache_dir, fs::copy_options::recursive);
    fs::create_directories(root / "home");
    sbx.env = {"HOME=" + (root / "home").string(), "SUDO_UID=", "SUDO_GID="};
    chown_tree(root, kUser, kGroup);
    REQUIRE(::chmod((work / "host-suid-agent").c_str(), 04755) == 0);
    REQUIRE(::chmod((work / "host-suid-root").c_str(), 04755) == 0);
    REQUIRE(::chown(sbx.state_dir().c_str(), kUser, kGroup) == 0);
  }
  const auto up = sbx.run({"up", "--detach", (root / "proj").string()}, {}, 240s);
  INFO("sbx up stderr: " << up.err);
  REQUIRE(up.code == 0);
  const auto agent = sbx.run({"exec", "--name", name, "--", "sh", "-c", kAgentScript}, {}, 120s);
  INFO("agent: " << agent.out << agent.err);
  CHECK(agent.code == 0);
  const auto groot = sbx.run({"exec", "--name", name, "--user", "root", "--", "sh", "-c", kRootScript}, {}, 120s);
  INFO("guest root: " << groot.out << groot.err);
  CHECK(groot.code == 0);

  // The attempts were made on files that exist (else the checks below would prove nothing), and
  // the guests' writes reached the host.
  for (const char* f : {"a-suid", "a-sgid", "a-both", "a-dir", "a-plain", "r-suid", "r-sgid", "r-both", "r-dir", "r-owned",
                        "r-plain"})
    CHECK(fs::exists(work / f));
  CHECK(read_file(work / "host-suid-agent") == "host\nagent\n");
  CHECK(read_file(work / "host-suid-root") == "host\nroot\n");
  CHECK_FALSE(fs::exists(work / "r-by-root"));  // guest root has no identity to create with

  // No file in the share is set-uid or set-gid, none carries a file capability, and every one
  // belongs to the user the share is served as.
  int seen = 0;
  for (const auto& e : fs::recursive_directory_iterator(work)) {
    struct stat st{};
    REQUIRE(::lstat(e.path().c_str(), &st) == 0);
    ++seen;
    INFO(e.path().filename().string() << " mode " << std::oct << st.st_mode << std::dec << " owner " << st.st_uid << ":"
                                      << st.st_gid);
    CHECK((st.st_mode & (S_ISUID | S_ISGID)) == 0);
    CHECK(st.st_uid == owner);
    CHECK(::lgetxattr(e.path().c_str(), "security.capability", nullptr, 0) < 0);
  }
  CHECK(seen >= 14);
  CHECK(sbx.run({"down", "--name", name}, {}, 60s).code == 0);
}

}  // namespace

TEST_CASE("run as root without sudo, no guest-made file on a share is privileged on the host", "[e2e][mount][security]") {
  if (::geteuid() != 0) {
    WARN("needs root; skipping");
    return;
  }
  check_share(RunAs::root, "sec-root");
}

TEST_CASE("run as root through sudo, no guest-made file on a share is privileged on the host", "[e2e][mount][security]") {
  if (::geteuid() != 0) {
    WARN("needs root to give the share to another user; skipping");
    return;
  }
  check_share(RunAs::sudo, "sec-sudo");
}

TEST_CASE("run as an ordinary user, no guest-made file on a share is privileged on the host", "[e2e][mount][security]") {
  if (::geteuid() != 0) {
    WARN("needs root to create the unprivileged test user's directories; skipping");
    return;
  }
  check_share(RunAs::user, "sec-user");
}

TEST_CASE("a mount source the guest swaps for a symlink to outside is refused at the next sbx up", "[e2e][mount][security]") {
  if (::geteuid() != 0) {
    WARN("needs root (the quick start's way of running sbx); skipping");
    return;
  }
  const TempRoot temp;
  const fs::path& root = temp.path;
  Sbx sbx;
  sbx.env = {"SUDO_UID=", "SUDO_GID="};
  fs::create_directories(root / "proj");
  fs::create_directories(root / "work" / "data" / "inner");
  fs::create_directories(root / "outside" / "inner");
  const std::string secret = "outside-secret-" + std::to_string(::getpid());
  write_file(root / "outside" / "inner" / "secret.txt", secret + "\n");
  write_file(root / "work" / "data" / "inner" / "inside.txt", "inside\n");
  // The second mount's source lies inside the first, read-write one: the guest can replace a
  // directory on its path (an intermediate one: virtiofsd itself refuses a final symlink).
  write_file(root / "proj" / "Sandboxfile",
        "version = 1\nname = \"sec-swap\"\n[agent]\ncommand = [\"/bin/true\"]\n"
        "[[mount]]\nsource = \"../work\"\ntarget = \"/workspace\"\nmode = \"rw\"\n"
        "[[mount]]\nsource = \"../work/data/inner\"\ntarget = \"/data\"\nmode = \"rw\"\n");
  const auto up = sbx.run({"up", "--detach", (root / "proj").string()}, {}, 240s);
  INFO("first sbx up: " << up.err);
  REQUIRE(up.code == 0);
  const auto swap = sbx.run({"exec", "--name", "sec-swap", "--", "sh", "-c",
                             "cat /data/inside.txt && mv /workspace/data /workspace/data.old && ln -s " +
                                 (root / "outside").string() + " /workspace/data"},
                            {}, 60s);
  INFO("swap: " << swap.out << swap.err);
  REQUIRE(swap.code == 0);
  REQUIRE(fs::is_symlink(root / "work" / "data"));
  REQUIRE(sbx.run({"down", "--name", "sec-swap"}, {}, 60s).code == 0);

  const auto again = sbx.run({"up", "--detach", (root / "proj").string()}, {}, 240s);
  INFO("second sbx up: " << again.err);
  CHECK(again.code == 1);
  CHECK(again.err.find("Sandboxfile:9:1: error: mount source " + (root / "work" / "data" / "inner").string() +
                       " goes through the symlink " + (root / "work" / "data").string()) != std::string::npos);
  CHECK(again.err.find("the read-write mount source " + (root / "work").string()) != std::string::npos);
  CHECK(again.err.find("booting") == std::string::npos);
  // Had it booted anyway, the outside directory must not be what /data shows.
  if (again.code == 0) {
    const auto r = sbx.run({"exec", "--name", "sec-swap", "--", "cat", "/data/secret.txt"}, {}, 60s);
    CHECK(r.out.find(secret) == std::string::npos);
  }
}
