#include "sbx_runner.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <grp.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sbx::e2e {
namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

Running spawn(const std::vector<std::string>& args, const fs::path& state, const fs::path& cwd, int in_fd,
              const Sbx& sbx) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) std::abort();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_fd, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::setenv("SBX_STATE_DIR", state.c_str(), 1);
    ::setenv("SBX_CACHE_DIR", sbx.cache_dir.empty() ? SBX_E2E_CACHE_DIR : sbx.cache_dir.c_str(), 1);
    for (const auto& kv : sbx.env) ::putenv(const_cast<char*>(kv.c_str()));
    if (sbx.uid != 0) {
      const gid_t g = sbx.gid;
      if (::setgroups(sbx.supplementary_group ? 1 : 0, &g) != 0 || ::setresgid(g, g, g) != 0 || ::setresuid(sbx.uid, sbx.uid, sbx.uid) != 0) ::_exit(125);
    }
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    std::vector<char*> argv;
    std::string bin = SBX_E2E_BINARY;
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  return {pid, out[0], err[0]};
}

// Drain both pipes until they close or the deadline passes.
bool drain(Running& r, std::string& out, std::string& err, steady_clock::time_point deadline) {
  while (r.out_fd >= 0 || r.err_fd >= 0) {
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd fds[2] = {{r.out_fd, POLLIN, 0}, {r.err_fd, POLLIN, 0}};
    ::poll(fds, 2, static_cast<int>(left));
    for (int i = 0; i < 2; ++i) {
      int& fd = i == 0 ? r.out_fd : r.err_fd;
      if (fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[8192];
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) (i == 0 ? out : err).append(buf, static_cast<size_t>(n));
      else if (n == 0 || errno != EINTR) {
        ::close(fd);
        fd = -1;
      }
    }
  }
  return true;
}

}  // namespace

Sbx::Sbx() = default;

Sbx::~Sbx() {
  // Leave nothing running whatever the test did: stop every sandbox (state_ then removes the state).
  run({"down", "--all"}, {}, seconds(60));
}

fs::path Sbx::hello_project() { return fs::path(SBX_E2E_SOURCE_DIR) / "examples" / "hello"; }

RunResult Sbx::run(const std::vector<std::string>& args, const std::string& input, seconds limit,
                   const fs::path& cwd) const {
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) std::abort();
  Running r = spawn(args, state_.path(), cwd, in[0], *this);
  ::close(in[0]);
  // Feed stdin from a helper thread-free loop: small inputs fit in the pipe buffer.
  if (!input.empty()) [[maybe_unused]] auto w = ::write(in[1], input.data(), input.size());
  ::close(in[1]);
  return finish(r, {}, limit);
}

Running Sbx::start(const std::vector<std::string>& args) const {
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  Running r = spawn(args, state_.path(), {}, devnull, *this);
  ::close(devnull);
  return r;
}

Running Sbx::start_pty(const std::vector<std::string>& args, unsigned short rows, unsigned short cols) const {
  winsize ws{rows, cols, 0, 0};
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
  if (pid == 0) {
    ::setenv("SBX_STATE_DIR", state_.path().c_str(), 1);
    ::setenv("SBX_CACHE_DIR", SBX_E2E_CACHE_DIR, 1);
    std::vector<char*> argv;
    std::string bin = SBX_E2E_BINARY;
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return {pid, master, -1};
}

bool Sbx::wait_for_output(Running& r, const std::string& needle, std::string& seen, seconds limit) {
  const auto deadline = steady_clock::now() + limit;
  while (seen.find(needle) == std::string::npos) {
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0 || r.out_fd < 0) return false;
    pollfd p{r.out_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(r.out_fd, buf, sizeof buf);
    if (n <= 0) return false;
    seen.append(buf, static_cast<size_t>(n));
  }
  return true;
}

RunResult Sbx::finish(Running& r, std::string out_so_far, seconds limit) {
  RunResult res;
  res.out = std::move(out_so_far);
  const auto deadline = steady_clock::now() + limit;
  if (!drain(r, res.out, res.err, deadline)) {
    res.timed_out = true;
    ::kill(r.pid, SIGKILL);
    drain(r, res.out, res.err, steady_clock::now() + seconds(5));
  }
  int status = 0;
  ::waitpid(r.pid, &status, 0);
  res.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  for (int fd : {r.out_fd, r.err_fd})
    if (fd >= 0) ::close(fd);
  return res;
}

bool alive(long pid) {
  if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = s.rfind(')');
  return !(paren != std::string::npos && paren + 2 < s.size() && s[paren + 2] == 'Z');
}

std::vector<std::string> sockets_in(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".sock" || e.is_socket()) out.push_back(e.path().filename().string());
  return out;
}

}  // namespace sbx::e2e
