#include "sbx_run.h"

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

#include "common/text.h"

namespace fs = std::filesystem;

namespace sbx::cli_test {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Run run_sbx(const std::vector<std::string>& args, const fs::path& cwd) {
  static int n = 0;
  const fs::path err_file = fs::temp_directory_path() / ("sbx-cli-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
  std::string cmd = "cd " + text::shell_quote(cwd.string()) + " && " + text::shell_quote(SBX_BIN);
  for (const auto& a : args) cmd += " " + text::shell_quote(a);
  cmd += " 2>" + text::shell_quote(err_file.string());
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  std::array<char, 4096> buf{};
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), got);
  const int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = slurp(err_file);
  fs::remove(err_file);
  return r;
}

TempDir::TempDir() {
  static int n = 0;
  path = fs::temp_directory_path() / ("sbx-cli-dir-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
  fs::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

}  // namespace sbx::cli_test
