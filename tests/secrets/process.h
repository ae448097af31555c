#pragma once
// Running the real sbx binary from tests: stdin from a string, stdout/stderr captured in files,
// extra environment, and extra inherited descriptors (for SBX_SECRET_PASSPHRASE_FD).
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace sbx::secrets::test {

/// What a finished process left.
struct Ran {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

/// How to run one process.
struct Spawn {
  std::vector<std::string> argv;                // argv[0] is the program path
  std::map<std::string, std::string> env;       // added to (or replacing in) the current environment
  std::map<int, std::string> fds;               // child fd -> bytes readable on it (a pipe)
  std::string cwd;                              // working directory; empty: the test's own
};

/// A started process; wait() collects it.
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
  Ran wait();

 private:
  Child() = default;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::string out_path_, err_path_;
};

/// Start, feed `stdin_bytes`, wait.
Ran run(Spawn spec, const std::string& stdin_bytes = {});

/// The sbx binary under test.
std::string sbx_bin();

}  // namespace sbx::secrets::test
