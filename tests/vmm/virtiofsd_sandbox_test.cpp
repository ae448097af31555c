// start_virtiofsd against the real Debian virtiofsd (no VM: the test connects to its socket so it
// sets itself up): what it serves, which capabilities it holds, and a source swapped for a symlink.
#include <catch2/catch.hpp>
#include <chrono>
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
