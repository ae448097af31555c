#include "subprocess.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace sbx::test {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Child Child::start(const Spawn& spec) {
  ::signal(SIGPIPE, SIG_IGN);  // a child that exits before reading stdin must not kill the runner
  Child c;
  std::string out_tmpl = "/tmp/sbx-test-out-XXXXXX";
  std::string err_tmpl = "/tmp/sbx-test-err-XXXXXX";
  const int out_fd = ::mkostemp(out_tmpl.data(), O_CLOEXEC);
  const int err_fd = ::mkostemp(err_tmpl.data(), O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0) throw std::runtime_error("mkstemp failed");
  c.out_path_ = out_tmpl;
  c.err_path_ = err_tmpl;
  int in_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::map<int, int> extra;  // child fd -> read end
  for (const auto& [fd, bytes] : spec.fds) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    if (::write(p[1], bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) throw std::runtime_error("pipe write");
    ::close(p[1]);
    extra[fd] = p[0];
  }
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : spec.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::setsid();  // no controlling terminal: a prompt would fail instead of waiting for a person
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) ::_exit(126);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    for (const auto& [fd, r] : extra) ::dup2(r, fd);  // dup2 clears FD_CLOEXEC on the target
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_fd);
  ::close(err_fd);
  for (const auto& [fd, r] : extra) ::close(r);
  c.pid_ = pid;
  c.stdin_fd_ = in_pipe[1];
  return c;
}

Child::Child(Child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), stdin_fd_(std::exchange(o.stdin_fd_, -1)),
      out_path_(std::move(o.out_path_)), err_path_(std::move(o.err_path_)) {}

Child::~Child() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (!out_path_.empty()) ::unlink(out_path_.c_str());
  if (!err_path_.empty()) ::unlink(err_path_.c_str());
}

void Child::write_stdin(const std::string& bytes, bool close_after) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(stdin_fd_, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;  // the child exited early; its exit status tells the test why
    done += static_cast<std::size_t>(n);
  }
  if (close_after) {
    ::close(stdin_fd_);
    stdin_fd_ = -1;
  }
}

std::size_t Child::stdin_unread() const {
  int n = 0;  // FIONREAD on either end of a pipe counts the bytes in it
  if (stdin_fd_ < 0 || ::ioctl(stdin_fd_, FIONREAD, &n) != 0) return 0;
  return static_cast<std::size_t>(n);
}

Ran Child::wait(std::chrono::milliseconds limit) {
  if (stdin_fd_ >= 0) {
    ::close(stdin_fd_);
    stdin_fd_ = -1;
  }
  Ran r;
  int status = 0;
  if (limit == std::chrono::milliseconds::zero()) {
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  } else {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        r.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  pid_ = -1;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out_path_);
  r.err = read_file(err_path_);
  return r;
}

Ran run(const Spawn& spec, const std::string& stdin_bytes, std::chrono::milliseconds limit) {
  Child c = Child::start(spec);
  c.write_stdin(stdin_bytes, true);
  return c.wait(limit);
}

}  // namespace sbx::test
