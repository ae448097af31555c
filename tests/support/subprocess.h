#pragma once
// Running a program from a test: argv (no shell), stdin from the test, stdout and stderr
// captured (in files, so a chatty child never blocks on a full pipe), extra environment, extra
// inherited descriptors, a working directory and a time limit.
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace sbx::test {

/// What a finished process left.
struct Ran {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
  bool timed_out = false;  // killed because it outlived the limit
};

/// How to run one process.
struct Spawn {
  std::vector<std::string> argv;                // argv[0] is the program path
  std::map<std::string, std::string> env;       // added to (or replacing in) the current environment
  std::map<int, std::string> fds;               // child fd -> bytes readable on it (a pipe)
  std::string cwd;                              // working directory; empty: the test's own
};

/// A started process, in its own session (no controlling terminal); wait() collects it, and
/// destroying it unwaited kills it.
class Child {
 public:
  static Child start(const Spawn& spec);
  Child(Child&&) noexcept;
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  ~Child();
  pid_t pid() const { return pid_; }
  /// Write to the child's stdin and optionally close it (wait() closes it in any case).
  void write_stdin(const std::string& bytes, bool close_after);
  /// Bytes written to stdin that the child has not read yet.
  std::size_t stdin_unread() const;
  /// Wait for the child to exit; after `limit` (zero: none) kill it and report timed_out.
  Ran wait(std::chrono::milliseconds limit = std::chrono::milliseconds::zero());

 private:
  Child() = default;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::string out_path_, err_path_;
};

/// Start, feed `stdin_bytes`, wait (at most `limit`, zero: no limit).
Ran run(const Spawn& spec, const std::string& stdin_bytes = {},
        std::chrono::milliseconds limit = std::chrono::milliseconds::zero());

}  // namespace sbx::test
