#include "host_files.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sys/wait.h>
#include <unistd.h>

namespace sbx::e2e {
namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

void chown_tree(const fs::path& dir, uid_t uid, gid_t gid) {
  REQUIRE(::lchown(dir.c_str(), uid, gid) == 0);
  for (const auto& e : fs::recursive_directory_iterator(dir)) REQUIRE(::lchown(e.path().c_str(), uid, gid) == 0);
}

std::pair<int, std::string> host_sh(const std::string& script) {
  std::string out;
  FILE* f = ::popen((script + " 2>&1").c_str(), "r");
  if (!f) return {-1, ""};
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  const int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace sbx::e2e
