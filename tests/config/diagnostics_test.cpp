#include <catch2/catch.hpp>

#include <string>

#include "config/diagnostics.h"
#include "load_helpers.h"

using namespace sbx::config;
using namespace sbx::config::test;

TEST_CASE("no diagnostic means success", "[config][diagnostics]") {
  Diagnostics d("version = 1\n", "Sandboxfile");
  CHECK(d.empty());
  CHECK(d.finish().has_value());
}

TEST_CASE("diagnostics come back sorted by position with their source line and count", "[config][diagnostics]") {
  Diagnostics d("version = 1\r\nname = 3\nx = 1\n", "S");
  d.add(3, 1, "third", "fix three");
  d.add(2, 8, "second b");
  d.add(2, 1, "second a", "fix two");
  d.add(0, 0, "whole file");
  CHECK_FALSE(d.empty());
  auto r = d.finish();
  REQUIRE_FALSE(r.has_value());
  const sbx::Error& e = r.error();
  CHECK(e.code == sbx::ErrorCode::invalid);
  CHECK(e.message == "S: 4 errors");
  REQUIRE(e.details.size() == 4);
  CHECK(e.details[0].message == "whole file");
  CHECK(e.details[0].source_line.empty());
  CHECK(e.details[1].message == "second a");
  CHECK(e.details[1].source_line == "name = 3");
  CHECK(e.details[2].message == "second b");
  CHECK(e.details[3].location.str() == "S:3:1");
  CHECK(e.details[3].source_line == "x = 1");
  CHECK(e.location.str() == e.details[0].location.str());
  CHECK(e.hint == e.details[0].hint);
}

TEST_CASE("diagnostics stop at 50 and say that they did", "[config][diagnostics]") {
  Diagnostics d("", "S");
  for (int i = 0; i < 60; ++i) d.add(1, i + 1, "problem " + std::to_string(i));
  auto r = d.finish();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().details.size() == kMaxDiagnostics);
  CHECK(r.error().message == "S: 50 errors (stopped after 50)");
}

TEST_CASE("a source line shows control bytes as '?' and a huge line only when the caret stays readable", "[config][diagnostics]") {
  const std::string huge(300, 'x');
  Diagnostics d("a\x1b[0m\tb\n" + huge + "\n", "S");
  d.add(1, 1, "escape");
  d.add(2, 10, "early in a huge line");
  d.add(2, 250, "late in a huge line");
  auto r = d.finish();
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().details.size() == 3);
  CHECK(r.error().details[0].source_line == "a?[0m\tb");
  CHECK(r.error().details[1].source_line == std::string(200, 'x') + "...");
  CHECK(r.error().details[2].source_line.empty());
}

TEST_CASE("printable escapes terminal control bytes and cuts long text", "[config][diagnostics]") {
  CHECK(printable("plain") == "plain");
  CHECK(printable("\x1b[31mred\x7f") == "\\x1b[31mred\\x7f");
  CHECK(printable(std::string(100, 'a')) == std::string(80, 'a') + "...");
  CHECK(printable("abcdef", 3) == "abc...");
}

TEST_CASE("a rendered diagnostic has file:line:col, the source line, a caret and a hint", "[config][diagnostics]") {
  const sbx::Error e = load_err("version = 1\n[agent]\npreset = \"codx\"\n");
  CHECK(e.render() ==
        "Sandboxfile:3:10: error: unknown agent preset 'codx' (did you mean 'codex'?)\n"
        " 3 | preset = \"codx\"\n"
        "   |          ^\n"
        "  hint: the presets are: claude-code, codex, copilot, gemini, opencode, shell; or leave preset out and set 'command'\n"
        "Sandboxfile: 1 error\n");
}

