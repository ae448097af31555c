#pragma once
// Runs the real sbx binary for end-to-end tests: argv (no shell), optional stdin bytes, a private
// state directory, and a hard time limit on every run.
#include <chrono>
#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

#include "support/temp_dir.h"

namespace sbx::e2e {

/// What a finished run produced.
struct RunResult {
  int code = -1;          // exit status, 128+signal when killed
  std::string out, err;
  bool timed_out = false;
};

/// A started run, for tests that signal it while it runs.
struct Running {
  pid_t pid = -1;
  int out_fd = -1, err_fd = -1;
};

/// One private sbx world: its own state directory, a shared artifact cache.
class Sbx {
 public:
  Sbx();
  ~Sbx();
  /// Run `sbx args...` in `cwd` to completion, killing it after `limit`.
  RunResult run(const std::vector<std::string>& args, const std::string& input = {},
                std::chrono::seconds limit = std::chrono::seconds(120),
                const std::filesystem::path& cwd = {}) const;
  /// Start `sbx args...` with stdin from /dev/null.
  Running start(const std::vector<std::string>& args) const;
  /// Read from a started run until `needle` appears on stdout or `limit` passes.
  static bool wait_for_output(Running& r, const std::string& needle, std::string& seen, std::chrono::seconds limit);
  /// Start `sbx args...` on a new pseudo-terminal of rows x cols; out_fd is the PTY master.
  Running start_pty(const std::vector<std::string>& args, unsigned short rows, unsigned short cols) const;
  /// Wait for a started run to end (killing it after `limit`) and collect the rest.
  static RunResult finish(Running& r, std::string out_so_far, std::chrono::seconds limit);

  const std::filesystem::path& state_dir() const { return state_.path(); }
  std::filesystem::path sandbox_dir(const std::string& name) const { return state_.path() / "sandboxes" / name; }
  /// The hello example project.
  static std::filesystem::path hello_project();

  std::vector<std::string> env;          // extra NAME=VALUE for run() and start()
  uid_t uid = 0;                         // run() and start() as this user and group when not 0
  gid_t gid = 0;
  bool supplementary_group = false;      // with uid: also give the user `gid` as a supplementary group
  std::filesystem::path cache_dir;       // empty: the shared e2e artifact cache

 private:
  sbx::test::TempDir state_{"sbx-e2e"};
};

/// True when `pid` names a live (non-zombie) process.
bool alive(long pid);
/// The *.sock files left in a directory.
std::vector<std::string> sockets_in(const std::filesystem::path& dir);

}  // namespace sbx::e2e
