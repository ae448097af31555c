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
