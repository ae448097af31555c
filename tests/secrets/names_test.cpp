#include <catch2/catch.hpp>

#include <string>

#include "secrets/names.h"

using sbx::secrets::validate_name;

TEST_CASE("secret names from the safe alphabet are accepted", "[secrets]") {
  for (const char* ok : {"GITHUB_TOKEN", "github-token", "npm.token", "_x", "a", "9lives", "A.b-c_d"})
    CHECK(validate_name(ok));
  CHECK(validate_name(std::string(128, 'a')));
}

TEST_CASE("secret names outside the safe alphabet are refused with the offending character", "[secrets]") {
  struct Case {
    std::string name;
    std::string says;
  };
  for (const Case& c : {Case{"", "empty"}, Case{"a b", "0x20"}, Case{"../etc", "'.' at position 1"},
                        Case{"a/b", "'/' at position 2"}, Case{"-rf", "cannot start"}, Case{".hidden", "cannot start"},
                        Case{"tok\n", "0x0a"}, Case{"caf\xc3\xa9", "0xc3"}, Case{std::string(129, 'a'), "129 characters"}}) {
    auto r = validate_name(c.name);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == sbx::ErrorCode::invalid);
    CHECK_THAT(r.error().message, Catch::Contains(c.says));
    CHECK_THAT(r.error().hint, Catch::Contains("A-Z a-z 0-9 _ . -"));
  }
}
