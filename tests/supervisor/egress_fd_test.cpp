// The egress child under descriptor pressure (no VM): a flood of guest streams gets 503s from
// the real egress child, which keeps serving; a descriptor that does not fit the receiver's fd
// table (MSG_CTRUNC) is one lost packet, never "the supervisor is gone".
#include <catch2/catch.hpp>

#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "supervisor/egress_child.h"
#include "supervisor/fd_passing.h"
#include "supervisor/launch.h"
#include "support/temp_dir.h"

using namespace sbx::supervisor;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using sbx::test::TempDir;

// What arrives on `fd` within `ms` (until the peer closes or is quiet).
std::string read_for(int fd, int ms) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

IoStatus send_stream(int control, int fd, int i) {
  IoStatus st = IoStatus::again;
  for (int tries = 0; tries < 2000 && st == IoStatus::again; ++tries) {
    st = send_with_fd(control, "stream 127.0.0.1:" + std::to_string(40000 + i), fd);
    if (st == IoStatus::again) std::this_thread::sleep_for(1ms);
  }
  return st;
}

// A guest stream handed to the child: our end of the socketpair.
sbx::Fd new_stream(int control, int i) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return {};
  sbx::Fd mine(sv[0]), theirs(sv[1]);
  if (send_stream(control, theirs.get(), i) != IoStatus::ok) return {};
  return mine;
}

}  // namespace

TEST_CASE("the egress child's connection cap follows its descriptor limit", "[supervisor][egress]") {
  CHECK(connection_cap(1024) == (1024 - 64) / 3);
  CHECK(connection_cap(128) == (128 - 32) / 3);
  CHECK(connection_cap(1u << 20) == 4096);
  CHECK(connection_cap(3) == 1);
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
  const auto now = raise_fd_limit();
  rlimit after{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &after) == 0);
  CHECK(after.rlim_cur == after.rlim_max);
  CHECK((after.rlim_cur == RLIM_INFINITY || now == after.rlim_cur));
  ::setrlimit(RLIMIT_NOFILE, &before);
}

TEST_CASE("a descriptor that does not fit the receiver's fd table is reported lost, and the next one arrives",
          "[supervisor][egress][security]") {
  auto control = control_pair();
  REQUIRE(control);
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(send_with_fd(control->first.get(), "stream one", sv[1]) == IoStatus::ok);
  REQUIRE(send_with_fd(control->first.get(), "stream two", sv[1]) == IoStatus::ok);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // A full table: a low limit, then descriptors until EMFILE.
    rlimit r{64, 64};
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0) ::_exit(9);
    std::vector<int> held;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) held.push_back(fd);
    if (errno != EMFILE || held.empty()) ::_exit(10);
    Packet p;
    if (receive_with_fd(control->second.get(), p) != IoStatus::ok) ::_exit(11);  // read as "supervisor gone"
    if (!p.fd_lost || p.fd || p.message != "stream one") ::_exit(12);
    ::close(held.back());
    Packet q;
    if (receive_with_fd(control->second.get(), q) != IoStatus::ok) ::_exit(13);
    if (q.fd_lost || !q.fd || q.message != "stream two") ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST_CASE("a flood of guest streams gets 503s from the egress child, which keeps serving", "[supervisor][egress][security]") {
  TempDir dir;
  std::ofstream(dir.path() / "Sandboxfile") << "version = 1\n[egress]\nallow = [\"allowed.test\"]\n";
  Launch l;
  l.name = "fd-flood";
  l.egress.enabled = true;
  l.egress.sandboxfile = (dir.path() / "Sandboxfile").string();
  l.egress.project_dir = dir.path().string();
  l.egress.snapshot = (dir.path() / "Sandboxfile").string();
  l.egress.digest = "test";
  std::ofstream(dir.path() / "launch.json") << launch_to_json(l);
  auto control = control_pair();
  REQUIRE(control);
  constexpr rlim_t kLimit = 128;  // a desktop-like 1024 scaled down: the same arithmetic, faster
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    control->first.reset();
    rlimit r{kLimit, kLimit};
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0) ::_exit(9);
    ::_exit(run_egress_process(dir.path(), control->second.get()));
  }
  control->second.reset();
  const int ctl = control->first.get();
  pollfd ready{ctl, POLLIN, 0};
  REQUIRE(::poll(&ready, 1, 20000) == 1);
  Packet hello;
  REQUIRE(receive_with_fd(ctl, hello) == IoStatus::ok);
  REQUIRE(hello.message == "ready");

  // Four times as many streams as the child has descriptors, all held open.
  constexpr int kStreams = 4 * kLimit;
  std::vector<sbx::Fd> streams;
  for (int i = 0; i < kStreams; ++i) {
    auto s = new_stream(ctl, i);
    REQUIRE(s);
    streams.push_back(std::move(s));
  }
  std::vector<pollfd> polls;
  for (auto& s : streams) polls.push_back({s.get(), POLLIN, 0});
  std::vector<std::string> got(streams.size());
  for (auto deadline = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < deadline;) {
    if (::poll(polls.data(), polls.size(), 300) <= 0) break;  // quiet: every answer is in
    for (size_t i = 0; i < polls.size(); ++i) {
      if (!(polls[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      const ssize_t n = ::recv(polls[i].fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) got[i].append(buf, static_cast<size_t>(n));
      if (n <= 0) polls[i].fd = -1;  // closed: poll ignores it from now on
    }
  }
  size_t refused = 0, held = 0;
  int open_one = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].starts_with("HTTP/1.1 503")) {
      ++refused;
      CHECK(got[i].find("too many connections") != std::string::npos);
    } else if (got[i].empty() && polls[i].fd >= 0) {
      ++held;
      if (open_one < 0) open_one = static_cast<int>(i);
    }
  }
  const size_t cap = connection_cap(kLimit);
  CHECK(held == cap);
  CHECK(refused == kStreams - cap);
  REQUIRE(::waitpid(pid, nullptr, WNOHANG) == 0);  // still running

  // A stream it holds is still served, and so is a new one once the flood has gone.
  REQUIRE(open_one >= 0);
  const std::string denied = "CONNECT denied.test:443 HTTP/1.1\r\nHost: denied.test:443\r\n\r\n";
  REQUIRE(::send(streams[open_one].get(), denied.data(), denied.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(denied.size()));
  CHECK(read_for(streams[open_one].get(), 3000).starts_with("HTTP/1.1 403"));
  streams.clear();
  std::this_thread::sleep_for(300ms);
  auto after = new_stream(ctl, kStreams);
  REQUIRE(after);
  REQUIRE(::send(after.get(), denied.data(), denied.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(denied.size()));
  CHECK(read_for(after.get(), 3000).starts_with("HTTP/1.1 403"));
  CHECK(::waitpid(pid, nullptr, WNOHANG) == 0);

  // Only the control socket's close stops it.
  control->first.reset();
  int status = -1;
  for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(50ms);
  if (!WIFEXITED(status)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  CHECK(WIFEXITED(status));
}
