// The top-level help, `sbx help CMD`, and how number options are refused: the real binary.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <sstream>

#include "sbx_run.h"
#include "support/temp_dir.h"

using namespace sbx::cli_test;

namespace {

// The rows of the COMMANDS section of `sbx --help`: name and the column its summary starts in.
struct Row {
  std::string name;
  size_t summary_column = 0;
};

std::vector<Row> command_rows(const std::string& help) {
  std::vector<Row> rows;
  std::istringstream in(help);
  std::string line;
  bool in_commands = false;
  while (std::getline(in, line)) {
    if (line == "COMMANDS") {
      in_commands = true;
      continue;
    }
    if (!in_commands) continue;
    if (line.empty()) break;
    // "    NAME WORDS   Summary": the name is the words before the first run of two spaces.
    REQUIRE(line.starts_with("    "));
    const size_t gap = line.find("  ", 4);
    REQUIRE(gap != std::string::npos);
    const size_t summary = line.find_first_not_of(' ', gap);
    REQUIRE(summary != std::string::npos);
    rows.push_back({line.substr(4, gap - 4), summary});
  }
  return rows;
}

}  // namespace

TEST_CASE("sbx help with an unknown command exits 2 with a did-you-mean", "[cli][help]") {
  const Run r = run_sbx({"help", "nosuch"});
  CHECK(r.rc == 2);
  CHECK(r.err.find("unknown command 'nosuch'") != std::string::npos);
  CHECK(r.err.find("hint:") != std::string::npos);
  const Run typo = run_sbx({"help", "valdate"});
  CHECK(typo.rc == 2);
  CHECK(typo.err.find("did you mean 'sbx validate'?") != std::string::npos);
}

TEST_CASE("sbx help CMD prints the manual of CMD and runs nothing", "[cli][help]") {
  const Run r = run_sbx({"help", "validate"});
  CHECK(r.rc == 0);
  CHECK(r.out == run_sbx({"validate", "--help"}).out);
  CHECK(r.out.starts_with("NAME\n    sbx validate - "));
  const Run two = run_sbx({"help", "secret", "set"});
  CHECK(two.rc == 0);
  CHECK(two.out.starts_with("NAME\n    sbx secret set - "));
  CHECK(run_sbx({"help"}).rc == 0);
}

TEST_CASE("the command list keeps groups together and aligns every summary in one column", "[cli][help]") {
  const Run r = run_sbx({"--help"});
  REQUIRE(r.rc == 0);
  const auto rows = command_rows(r.out);
  REQUIRE(rows.size() >= 20);
  size_t longest = 0;
  for (const auto& row : rows) longest = std::max(longest, row.name.size());
  for (const auto& row : rows) {
    INFO(row.name);
    CHECK(row.summary_column == 4 + longest + 2);
    CHECK_FALSE(row.name.starts_with("__"));  // internal commands stay unlisted
  }
  // Commands that share a first word (image, secret, egress) are listed one after another.
  std::vector<std::string> groups;
  for (const auto& row : rows) {
    const std::string group = row.name.substr(0, row.name.find(' '));
    if (groups.empty() || groups.back() != group) {
      CHECK(std::find(groups.begin(), groups.end(), group) == groups.end());
      groups.push_back(group);
    }
  }
  // The order of the groups: sandbox lifecycle, Sandboxfile, images, secrets, egress.
  auto at = [&](const std::string& name) {
    for (size_t i = 0; i < rows.size(); ++i)
      if (rows[i].name == name) return i;
    FAIL("'" << name << "' is not in the command list");
    return rows.size();
  };
  CHECK(at("up") < at("down"));
  CHECK(at("down") < at("init"));
  CHECK(at("plan") < at("image ls"));
  CHECK(at("image prune") < at("secret set"));
  CHECK(at("secret passphrase") < at("proxy"));
  CHECK(at("proxy") < at("egress suggest"));
  CHECK(at("egress suggest") == rows.size() - 1);
}

TEST_CASE("up refuses a --timeout that is not a plain number of seconds in range", "[cli][up]") {
  sbx::test::TempDir state;
  ::setenv("SBX_STATE_DIR", state.path().c_str(), 1);  // never touch another sandbox, even by mistake
  for (const char* bad : {"10s", "-5", "0", "3601", "1e3", " 10", "99999999999999999999"}) {
    INFO(bad);
    const Run r = run_sbx({"up", "--timeout", bad, "examples/hello"});
    CHECK(r.rc == 2);
    CHECK(r.err.find("--timeout must be a number of seconds between 1 and 3600, got '" + std::string(bad) + "'") !=
          std::string::npos);
  }
}

TEST_CASE("proxy refuses number options with a suffix, naming the option and its range", "[cli][proxy]") {
  const Run r = run_sbx({"proxy", "--sandboxfile", "examples/hello", "--idle-timeout", "10s"});
  CHECK(r.rc == 2);
  CHECK(r.err.find("--idle-timeout needs a number between 1 and 86400, got '10s'") != std::string::npos);
  const Run zero = run_sbx({"proxy", "--sandboxfile", "examples/hello", "--max-connections", "0"});
  CHECK(zero.rc == 2);
  CHECK(zero.err.find("--max-connections needs a number between 1 and 1000000, got '0'") != std::string::npos);
}
