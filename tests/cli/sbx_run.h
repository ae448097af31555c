#pragma once
// Runs the real build/bin/sbx as a user would, for the CLI tests: exit code, stdout, stderr.
#include <filesystem>
#include <string>
#include <vector>

namespace sbx::cli_test {

/// What one run of sbx gave back.
struct Run {
  int rc = -1;
  std::string out;
  std::string err;
};

/// Run sbx with `args` in `cwd` (no shell), capturing stdout and stderr separately.
Run run_sbx(const std::vector<std::string>& args, const std::filesystem::path& cwd = SBX_REPO_DIR);

/// A whole file, or "" when it cannot be read.
std::string slurp(const std::filesystem::path& p);

}  // namespace sbx::cli_test
