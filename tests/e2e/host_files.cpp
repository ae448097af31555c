#include "host_files.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
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

}  // namespace sbx::e2e
