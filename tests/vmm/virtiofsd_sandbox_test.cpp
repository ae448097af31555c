// start_virtiofsd against the real Debian virtiofsd (no VM: the test connects to its socket so it
// sets itself up): what it serves, which capabilities it holds, and a source swapped for a symlink.
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <csignal>
#include <fstream>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "vmm/virtiofsd.h"
#include "support/temp_dir.h"

using namespace sbx::vmm;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using sbx::test::TempDir;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The value of `key:` in /proc/PID/status.
std::string status_field(pid_t pid, const std::string& key) {
  std::istringstream in(read("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(key + ":")) {
      const auto v = line.find_first_not_of(" \t", key.size() + 1);
      return v == std::string::npos ? "" : line.substr(v);
    }
  return {};
}

bool runnable_here(std::string& why) {
  if (::access(virtiofsd_binary().c_str(), X_OK) != 0) why = "virtiofsd missing (Debian's qemu-system-x86 ships it)";
  else if (::geteuid() != 0 && ::getgroups(0, nullptr) > 0) why = "virtiofsd needs root or a user without supplementary groups";
  return why.empty();
}

int connect_to(const fs::path& socket) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

TEST_CASE("virtiofsd serves exactly the checked directory, without CAP_FSETID or CAP_SETFCAP, under two filters",
          "[vmm][virtiofsd][security]") {
  std::string why;
  if (!runnable_here(why)) {
    WARN(why << "; skipping");
    return;
  }
  TempDir t;
  fs::create_directories(t.path() / "share");
  Share s;
  s.tag = "t";
  s.socket = t.path() / "fs.sock";
  s.source = t.path() / "share";
  s.read_only = false;
  auto child = start_virtiofsd(s, invoking_user(), t.path() / "virtiofsd.log");
  REQUIRE(child.has_value());
  const int front = connect_to(s.socket);  // virtiofsd sets up its sandbox once a front end connects
  CHECK(front >= 0);
  struct stat want{};
  REQUIRE(::stat(s.source.c_str(), &want) == 0);
  // virtiofsd forks into its own pid namespace; the child pivots into the share and serves.
  pid_t server = -1;
  for (auto deadline = std::chrono::steady_clock::now() + 20s; server < 0 && std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(50ms)) {
    std::istringstream kids(read("/proc/" + std::to_string(child->pid) + "/task/" + std::to_string(child->pid) + "/children"));
    for (pid_t kid; kids >> kid;) {
      struct stat root{};
      if (::stat(("/proc/" + std::to_string(kid) + "/root/.").c_str(), &root) == 0 && root.st_ino == want.st_ino &&
          root.st_dev == want.st_dev && status_field(kid, "Seccomp_filters") == "2")
        server = kid;
    }
  }
  INFO("virtiofsd log: " << read(t.path() / "virtiofsd.log"));
  REQUIRE(server > 0);
  const unsigned long long permitted = std::stoull(status_field(server, "CapPrm"), nullptr, 16);
  CHECK((permitted & (1ull << 4)) == 0);   // CAP_FSETID
  CHECK((permitted & (1ull << 31)) == 0);  // CAP_SETFCAP
  CHECK((permitted & (1ull << 3)) != 0);   // CAP_FOWNER: virtiofsd still works as a file server
  CHECK(status_field(server, "Seccomp") == "2");
  if (front >= 0) ::close(front);
  ::kill(child->pid, SIGKILL);
  ::waitpid(child->pid, nullptr, 0);
}

TEST_CASE("a share whose checked path gained a symlink is not served", "[vmm][virtiofsd][security]") {
  std::string why;
  if (!runnable_here(why)) {
    WARN(why << "; skipping");
    return;
  }
  TempDir t;
  fs::create_directories(t.path() / "a" / "b");
  fs::create_directories(t.path() / "outside" / "b");
  Share s;
  s.tag = "t";
  s.socket = t.path() / "fs.sock";
  s.source = t.path() / "a" / "b";  // as sbx up checked it
  // Then a guest with write access to t swaps "a" for a link to a directory outside.
  fs::rename(t.path() / "a", t.path() / "a.old");
  fs::create_directory_symlink(t.path() / "outside", t.path() / "a");
  auto child = start_virtiofsd(s, invoking_user(), t.path() / "virtiofsd.log");
  if (child) {
    ::kill(child->pid, SIGKILL);
    ::waitpid(child->pid, nullptr, 0);
  }
  REQUIRE_FALSE(child.has_value());
  CHECK(child.error().message.find("passes through a symlink") != std::string::npos);
  CHECK(child.error().hint.find("was replaced by a symlink after sbx checked it") != std::string::npos);
  CHECK_FALSE(fs::exists(s.socket));
}

namespace {

// The pid of virtiofsd's serving child (its root is the share), or -1.
pid_t serving_child(pid_t parent, const fs::path& share) {
  struct stat want{};
  if (::stat(share.c_str(), &want) != 0) return -1;
  for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(50ms)) {
    std::istringstream kids(read("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children"));
    for (pid_t kid; kids >> kid;) {
      struct stat root{};
      if (::stat(("/proc/" + std::to_string(kid) + "/root/.").c_str(), &root) == 0 && root.st_ino == want.st_ino &&
          root.st_dev == want.st_dev && status_field(kid, "Seccomp_filters") == "2")
        return kid;
    }
  }
  return -1;
}

// errno of what `op` does (0: done) in the mount namespace of `pid`, where virtiofsd works: a
// mount point is busy (cannot be renamed or removed) only in its own namespace.
template <class Op>
int errno_in_namespace_of(pid_t pid, Op op) {
  const pid_t child = ::fork();
  if (child == 0) {
    // Its root, opened first: after setns this process's /proc is gone.
    const int root = ::open(("/proc/" + std::to_string(pid) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    const int ns = ::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
    if (root < 0 || ns < 0 || ::setns(ns, CLONE_NEWNS) != 0) ::_exit(255);
    ::_exit(op(root) == 0 ? 0 : errno);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 254;
}

// errno of writing `text` to `p` (0: written).
int append_errno(const fs::path& p, const char* text) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return errno;
  const bool ok = ::write(fd, text, std::strlen(text)) >= 0;
  const int err = ok ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

TEST_CASE("in a read-write share the protected paths cannot be written, replaced, moved or removed through virtiofsd",
          "[vmm][virtiofsd][security]") {
  std::string why;
  if (!runnable_here(why)) {
    WARN(why << "; skipping");
    return;
  }
  TempDir t;
  const fs::path share = t.path() / "share";
  fs::create_directories(share / ".git" / "hooks");
  fs::create_directories(t.path() / "outside" / "hooks");
  { std::ofstream(share / "Sandboxfile") << "version = 1\n"; }
  { std::ofstream(share / ".git" / "config") << "[core]\n"; }
  { std::ofstream(t.path() / "outside" / "tasks.json") << "{}\n"; }
  // Links a guest could have planted in an earlier session: never followed by a protect mount.
  fs::create_directory_symlink(t.path() / "outside", share / ".vscode");
  Share s;
  s.tag = "t";
  s.socket = t.path() / "fs.sock";
  s.source = share;
  s.read_only = false;
  s.protect = {"Sandboxfile", ".git/hooks", ".git/config", ".envrc", ".vscode/tasks.json"};
  auto child = start_virtiofsd(s, invoking_user(), t.path() / "virtiofsd.log");
  REQUIRE(child.has_value());
  const int front = connect_to(s.socket);
  const pid_t server = serving_child(child->pid, share);
  INFO("virtiofsd log: " << read(t.path() / "virtiofsd.log"));
  REQUIRE(server > 0);
  // What virtiofsd sees is what the guest gets: its root is the share, with its mounts.
  const fs::path seen = "/proc/" + std::to_string(server) + "/root";
  CHECK(append_errno(seen / "Sandboxfile", "allow = [\"*.com\"]\n") == EROFS);
  CHECK(append_errno(seen / ".git" / "hooks" / "pre-commit", "#!/bin/sh\n") == EROFS);
  CHECK(append_errno(seen / ".git" / "config", "[core]\n\thooksPath = /tmp\n") == EROFS);
  CHECK(errno_in_namespace_of(server, [](int r) { return ::renameat(r, ".git", r, "aside"); }) == EBUSY);
  CHECK(errno_in_namespace_of(server, [](int r) { return ::unlinkat(r, "Sandboxfile", 0); }) == EBUSY);
  // The rest stays writable, inside .git too; an absent path is not protected.
  CHECK(append_errno(seen / "free", "ok\n") == 0);
  CHECK(errno_in_namespace_of(server, [](int r) { return ::renameat(r, "free", r, "Sandboxfile"); }) == EBUSY);
  CHECK(append_errno(seen / ".git" / "HEAD", "ref: refs/heads/main\n") == 0);
  CHECK(append_errno(seen / ".envrc", "export A=1\n") == 0);
  // The planted link was not followed: the directory outside is no mount and stays writable.
  CHECK(read("/proc/" + std::to_string(server) + "/mountinfo").find(t.path().string() + "/outside") == std::string::npos);
  CHECK(append_errno(t.path() / "outside" / "tasks.json", "{}\n") == 0);
  CHECK(read(share / "Sandboxfile") == "version = 1\n");
  CHECK_FALSE(fs::exists(share / ".git" / "hooks" / "pre-commit"));
  if (front >= 0) ::close(front);
  ::kill(child->pid, SIGKILL);
  ::waitpid(child->pid, nullptr, 0);
}

TEST_CASE("a protected path with a '..' part is refused before virtiofsd starts", "[vmm][virtiofsd][security]") {
  CHECK_FALSE(valid_protect_path("../etc"));
  CHECK_FALSE(valid_protect_path(".git/../../x"));
  CHECK_FALSE(valid_protect_path("/etc/passwd"));
  CHECK_FALSE(valid_protect_path(""));
  CHECK(valid_protect_path(".git/hooks"));
  std::string why;
  if (!runnable_here(why)) {
    WARN(why << "; skipping the start");
    return;
  }
  TempDir t;
  fs::create_directories(t.path() / "share");
  Share s;
  s.tag = "t";
  s.socket = t.path() / "fs.sock";
  s.source = t.path() / "share";
  s.read_only = false;
  s.protect = {"../x"};
  auto child = start_virtiofsd(s, invoking_user(), t.path() / "virtiofsd.log");
  if (child) {
    ::kill(child->pid, SIGKILL);
    ::waitpid(child->pid, nullptr, 0);
  }
  REQUIRE_FALSE(child.has_value());
  CHECK(child.error().message.find("not a relative path below it") != std::string::npos);
}
