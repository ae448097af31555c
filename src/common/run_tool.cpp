#include "common/run_tool.h"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>

#include "common/errno_text.h"
#include "common/fd.h"

namespace sbx {

namespace {
constexpr std::size_t kMaxOutput = 1u << 20;
constexpr std::size_t kMaxTail = 8192;

// In the forked child: stdin from /dev/null, stdout and stderr to `out`, nothing else open.
[[noreturn]] void exec_child(const std::vector<char*>& args, int out) {
  const int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  close_fds_from(3);
  ::execv(args[0], args.data());
  ::_exit(127);
}

// A started tool: its pid and the read end of its stdout and stderr.
struct Started {
  pid_t pid = -1;
  Fd output;
};

Result<Started> start_tool(const std::vector<std::string>& argv) {
  if (argv.empty()) return fail(ErrorCode::runtime, "run_tool: no program given");
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return fail(ErrorCode::io, "pipe: " + errno_text());
  Fd read_end(pipefd[0]), write_end(pipefd[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return fail(ErrorCode::io, "fork: " + errno_text());
  if (pid == 0) exec_child(args, write_end.get());
  return Started{pid, std::move(read_end)};
}

// Read `fd` to its end (closing it), handing each chunk read to `chunk`.
void drain(Fd& fd, const std::function<void(std::string_view)>& chunk) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    chunk(std::string_view(buf, static_cast<std::size_t>(n)));
  }
  fd.reset();
}

int wait_status(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
}  // namespace

Result<std::string> find_tool(const std::string& name, const std::string& package) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  path += ":/usr/sbin:/sbin";
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty()) {
      std::string cand = dir + "/" + name;
      if (::access(cand.c_str(), X_OK) == 0) return cand;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return fail(ErrorCode::not_found, name + " is not installed", "install Debian's " + package + " (./setup.sh does)");
}

Result<ToolResult> run_tool(const std::vector<std::string>& argv) {
  auto child = start_tool(argv);
  if (!child) return std::unexpected(child.error());
  ToolResult r;
  drain(child->output, [&](std::string_view chunk) {
    if (r.output.size() < kMaxOutput) r.output.append(chunk);
  });
  r.status = wait_status(child->pid);
  if (r.status == 127 && r.output.empty()) return fail(ErrorCode::runtime, "could not run " + argv[0]);
  return r;
}

Result<int> run_tool_lines(const std::vector<std::string>& argv, const std::function<void(const std::string&)>& line,
                           std::string& tail) {
  auto child = start_tool(argv);
  if (!child) return std::unexpected(child.error());
  const auto take = [&](const std::string& l) {
    tail += l + "\n";
    if (tail.size() > kMaxTail) tail.erase(0, tail.size() - kMaxTail);
    line(l);
  };
  std::string buf;
  drain(child->output, [&](std::string_view chunk) {
    buf.append(chunk);
    for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) take(buf.substr(0, nl));
    // A line that never ends (a progress bar redrawn with \r) is cut rather than kept whole.
    if (buf.size() > kMaxOutput) buf.erase(0, buf.size() - kMaxTail);
  });
  if (!buf.empty()) take(buf);
  return wait_status(child->pid);
}

}  // namespace sbx
