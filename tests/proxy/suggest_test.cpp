// Unit tests for rule suggestion from an egress log (src/proxy/suggest.*).
#include <catch2/catch.hpp>

#include <sstream>

#include "proxy/suggest.h"
#include "test_support.h"

using namespace sbx::proxy;
using sbx::proxy::test::egress;

TEST_CASE("suggestions: exact hosts, one wildcard for several subdomains, ports kept, SSRF never", "[proxy]") {
  std::stringstream log;
  auto line = [&](const std::string& host, int port, const std::string& fix, bool learned) {
    log << R"({"host":")" << host << R"(","port":)" << port << R"(,"decision":")" << (learned ? "allow" : "deny")
        << R"(","fix":")" << fix << R"(")" << (learned ? R"(,"learned":true)" : "") << "}\n";
  };
  line("registry.npmjs.org", 443, "x", true);
  line("cdn.npmjs.org", 443, "x", true);
  line("api.github.com", 443, "x", false);
  line("db.internal.test", 5432, "x", true);
  line("meta.test", 80, "allow = [\\\"169.254.169.254/32\\\"]", false);
  line("already.test", 443, "x", true);
  auto rules = suggest_rules(log, egress({"already.test"}));
  REQUIRE(rules);
  std::vector<std::string> texts;
  for (auto& r : *rules) texts.push_back(r.text);
  CHECK(texts == std::vector<std::string>{"*.npmjs.org", "api.github.com", "db.internal.test:5432"});
  const std::string sf = "version = 1\n\n[egress]\nallow = [\"already.test\"]\n";
  const auto diff = suggestion_diff(sf, "Sandboxfile", *rules);
  CHECK(diff.find("-allow = [\"already.test\"]") != std::string::npos);
  CHECK(diff.find("+allow = [\"already.test\", \"*.npmjs.org\", \"api.github.com\", \"db.internal.test:5432\"]") != std::string::npos);
  const auto fresh = suggestion_diff("version = 1\n", "Sandboxfile", *rules);
  CHECK(fresh.find("+[egress]") != std::string::npos);
}
