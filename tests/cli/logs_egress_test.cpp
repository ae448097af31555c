// `sbx logs --egress` rows: one JSON decision line -> one table row whose columns stay apart.
#include <catch2/catch.hpp>

#include "cli/cmd_logs_egress.h"

using sbx::cli::format_egress_line;

TEST_CASE("an egress row keeps a long rule apart from the byte counts", "[cli][egress]") {
  const std::string row = format_egress_line(
      R"({"time":"2026-12-01T10:00:00.123Z","decision":"allow","method":"CONNECT","host":"api.example.com","port":443,)"
      R"("rule":"Sandboxfile:2","bytes_up":1536,"bytes_down":2253000,"duration_ms":12.5})");
  CHECK(row.find("Sandboxfile:2 ") != std::string::npos);
  CHECK(row.find("Sandboxfile:21") == std::string::npos);
  CHECK(row.find(" 1.5K/2.1M") != std::string::npos);
}

TEST_CASE("an egress row separates every over-long column by a space", "[cli][egress]") {
  const std::string host(60, 'h');
  const std::string rule(40, 'r');
  const std::string row = format_egress_line(R"({"time":"2026-12-01T10:00:00.123Z","decision":"deny","method":"CONNECT","host":")" +
                                             host + R"(","port":443,"rule":")" + rule + R"(","bytes_up":0,"bytes_down":0})");
  CHECK(row.find(host + ":443 " + rule + " 0B/0B") != std::string::npos);
}

TEST_CASE("a line that is not a decision is shown as it is", "[cli][egress]") {
  CHECK(format_egress_line("not json") == "not json");
}

TEST_CASE("an egress row shows what a warn policy would have refused, escaped for the terminal", "[cli][egress][policy]") {
  const std::string row = format_egress_line(
      R"({"time":"2026-12-01T10:00:00.123Z","decision":"allow","method":"CONNECT","host":"x.test","port":443,)"
      R"("rule":"Sandboxfile:2","policy_warnings":["policy 'advice' (warn) would refuse this (/etc/p.toml:6): x.test:443 is outside\u001b[2J"]})");
  CHECK(row.find("\n    policy: policy 'advice' (warn) would refuse this (/etc/p.toml:6)") != std::string::npos);
  CHECK(row.find('\x1b') == std::string::npos);
}
