#pragma once
// What every sbx benchmark does: run a command (no shell) in a private sbx world, time it, and
// take medians. Header-only; each bench is one program.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace sbx::bench {

/// NAME=VALUE pairs every run gets (SBX_STATE_DIR and friends of the bench's private world).
inline std::vector<std::string>& run_env() {
  static std::vector<std::string> env;
  return env;
}

/// Whether run() passes the command's stderr through by default (benches that show sbx's errors).
inline bool& run_keeps_stderr() {
  static bool keep = false;
  return keep;
}

/// Run argv in `cwd` (empty: ours), stdin from /dev/null, stdout into `out` when given, stderr
/// dropped unless `keep_stderr` (default: run_keeps_stderr()). Returns the exit status (128+signal when killed).
inline int run(const std::vector<std::string>& argv, std::string* out = nullptr, bool keep_stderr = run_keeps_stderr(),
               const std::filesystem::path& cwd = {}, const std::vector<std::string>& extra_env = {}) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& kv : run_env()) ::putenv(const_cast<char*>(kv.c_str()));
    for (const auto& kv : extra_env) ::putenv(const_cast<char*>(kv.c_str()));
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(p[1], 1);
    if (!keep_stderr) ::dup2(devnull, 2);
    ::close(p[0]);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    ::_exit(127);
  }
  ::close(p[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0)
    if (out) out->append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Milliseconds `argv` took; its exit status into `code`.
inline double timed(const std::vector<std::string>& argv, int* code = nullptr, const std::filesystem::path& cwd = {},
                    std::string* out = nullptr, const std::vector<std::string>& extra_env = {}) {
  const auto t0 = std::chrono::steady_clock::now();
  const int c = run(argv, out, run_keeps_stderr(), cwd, extra_env);
  if (code) *code = c;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

/// End the bench with `what` when a step it needs failed.
inline void must(bool ok, const std::string& what) {
  if (ok) return;
  std::cerr << "bench: " << what << " failed\n";
  std::exit(1);
}

}  // namespace sbx::bench
