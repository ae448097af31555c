#include "sbx_run.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <sstream>

#include "support/subprocess.h"

namespace fs = std::filesystem;

namespace sbx::cli_test {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Run run_sbx(const std::vector<std::string>& args, const fs::path& cwd) {
  sbx::test::Spawn spec{.argv = {SBX_BIN}, .cwd = cwd.string()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  auto ran = sbx::test::run(spec, {}, std::chrono::seconds(120));
  REQUIRE_FALSE(ran.timed_out);
  return Run{ran.exit_code, std::move(ran.out), std::move(ran.err)};
}

}  // namespace sbx::cli_test
