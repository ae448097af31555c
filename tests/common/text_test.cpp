#include <catch2/catch.hpp>

#include <string_view>

#include "common/text.h"

TEST_CASE("edit distance counts insertions, deletions and substitutions", "[common]") {
  CHECK(sbx::text::edit_distance("egres", "egress") == 1);
  CHECK(sbx::text::edit_distance("kitten", "sitting") == 3);
  CHECK(sbx::text::edit_distance("", "abc") == 3);
}

TEST_CASE("closest suggests a near candidate and nothing for a far one", "[common]") {
  const std::string_view keys[] = {"agent", "image", "egress", "mount", "secret"};
  CHECK(sbx::text::closest("egres", keys) == "egress");
  CHECK(sbx::text::closest("imgae", keys) == "image");
  CHECK(sbx::text::closest("zzzzzzzz", keys).empty());
}

TEST_CASE("shell_quote leaves plain words and quotes the rest", "[common]") {
  CHECK(sbx::text::shell_quote("ls") == "ls");
  CHECK(sbx::text::shell_quote("a b") == "'a b'");
  CHECK(sbx::text::shell_quote("it's") == "'it'\\''s'");
}

TEST_CASE("parse_uint takes plain decimal numbers within the range", "[common]") {
  using sbx::text::parse_uint;
  CHECK(parse_uint("0") == 0u);
  CHECK(parse_uint("120", 1, 3600) == 120u);
  CHECK(parse_uint("3600", 1, 3600) == 3600u);
  CHECK(parse_uint("1", 1, 3600) == 1u);
  CHECK(parse_uint("007") == 7u);
  CHECK(parse_uint("18446744073709551615") == UINT64_MAX);
}

TEST_CASE("parse_uint refuses suffixes, signs, spaces, overflow and values out of range", "[common]") {
  using sbx::text::parse_uint;
  for (const char* bad : {"", "10s", "s10", "1.5", "1e3", "-1", "+1", " 1", "1 ", "0x10", "１", "18446744073709551616",
                          "99999999999999999999999"})
    CHECK_FALSE(parse_uint(bad).has_value());
  CHECK_FALSE(parse_uint("0", 1, 3600).has_value());
  CHECK_FALSE(parse_uint("3601", 1, 3600).has_value());
  CHECK_FALSE(parse_uint(std::string_view("12\0", 3)).has_value());
}
