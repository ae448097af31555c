// failure_lines: which egress log lines explain a failure (shown when an agent layer build fails).
#include "proxy/egress_log.h"

#include <catch2/catch.hpp>
#include <sstream>

using sbx::proxy::DecisionRecord;
using sbx::proxy::failure_lines;
using sbx::proxy::to_json_line;

namespace {

DecisionRecord record(const std::string& host, bool allowed, int status) {
  DecisionRecord r;
  r.method = "CONNECT";
  r.host = host;
  r.port = 443;
  r.allowed = allowed;
  r.status = status;
  return r;
}

}  // namespace

TEST_CASE("failure_lines keeps refusals and HTTP errors, not what went through") {
  std::stringstream log;
  log << to_json_line(record("ok.test", true, 200)) << "\n"
      << to_json_line(record("refused.test", false, 403)) << "\n"
      << to_json_line(record("relayed.test", true, 0)) << "\n"
      << to_json_line(record("upstream-error.test", true, 503)) << "\n";
  const auto lines = failure_lines(log, 10);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("refused.test") != std::string::npos);
  CHECK(lines[1].find("upstream-error.test") != std::string::npos);
}

TEST_CASE("failure_lines keeps the last ones, cut to 400 bytes") {
  std::stringstream log;
  for (int i = 0; i < 15; ++i) log << to_json_line(record("h" + std::to_string(i) + ".test", false, 403)) << "\n";
  log << to_json_line(record(std::string(600, 'x') + ".test", false, 403)) << "\n";
  const auto lines = failure_lines(log, 3);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].find("\"h13.test\"") != std::string::npos);
  CHECK(lines[1].find("\"h14.test\"") != std::string::npos);
  CHECK(lines[2].size() == 400);
}

TEST_CASE("failure_lines skips lines that are not JSON objects or have odd types") {
  std::stringstream log;
  log << "not json\n[1,2]\n{\"decision\": 7, \"status\": \"x\"}\n{\"decision\": \"allow\", \"status\": 200}\n"
      << "{\"decision\": \"allow\", \"status\": 4.5e2}\n{\"decision\": \"deny\"\n";
  const auto lines = failure_lines(log, 10);
  // A decision that is not the string "allow" counts as a refusal; the torn last line is skipped.
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("\"decision\": 7") != std::string::npos);
}
