#include <catch2/catch.hpp>

#include "common/error.h"

namespace {
sbx::Result<int> half(int n) {
  if (n % 2) return sbx::fail(sbx::ErrorCode::invalid, "odd", "pass an even number");
  return n / 2;
}
sbx::Result<int> quarter(int n) {
  int h = SBX_TRY(half(n));
  return SBX_TRY(half(h));
}
}  // namespace

TEST_CASE("SBX_TRY propagates the first error and yields values otherwise", "[common]") {
  REQUIRE(quarter(8).value() == 2);
  auto r = quarter(6);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "odd");
  CHECK(r.error().hint == "pass an even number");
}

TEST_CASE("a diagnostic renders file:line:col, the source line and a caret under the column", "[common]") {
  sbx::Diagnostic d{{"Sandboxfile", 3, 5}, "unknown key 'cpu'", "did you mean 'cpus'?", "    cpu = 2"};
  CHECK(sbx::render_diagnostic(d) ==
        "Sandboxfile:3:5: error: unknown key 'cpu'\n"
        " 3 |     cpu = 2\n"
        "   |     ^\n"
        "  hint: did you mean 'cpus'?\n");
}

TEST_CASE("usage errors map to exit code 2, the rest to 1", "[common]") {
  CHECK(sbx::Error{sbx::ErrorCode::usage, "x"}.exit_code() == sbx::ExitCode::usage);
  CHECK(sbx::Error{sbx::ErrorCode::invalid, "x"}.exit_code() == sbx::ExitCode::failed);
}

TEST_CASE("make_error and fail put the message, the hint and the location each in its own field", "[common]") {
  const auto e = sbx::make_error(sbx::ErrorCode::not_found, "no such thing", "create it", {"Sandboxfile", 4, 2});
  CHECK(e.code == sbx::ErrorCode::not_found);
  CHECK(e.message == "no such thing");
  CHECK(e.hint == "create it");
  CHECK(e.location.str() == "Sandboxfile:4:2");
  CHECK(e.details.empty());
  const auto f = sbx::fail(sbx::ErrorCode::usage, "bad flag", "see --help").error();
  CHECK(f.message == "bad flag");
  CHECK(f.hint == "see --help");
  CHECK_FALSE(f.location.known());
  CHECK(f.exit_code() == sbx::ExitCode::usage);
}
