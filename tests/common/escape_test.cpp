#include <catch2/catch.hpp>

#include <string>
#include <utility>

#include "common/escape.h"

using sbx::text::escape_for_terminal;
using sbx::text::escape_lines_for_terminal;

TEST_CASE("escape_for_terminal turns every control sequence into visible text", "[common][security]") {
  const std::pair<std::string, std::string> cases[] = {
      {"", ""},
      {"plain ASCII: ok ~!@#$%^&*()", "plain ASCII: ok ~!@#$%^&*()"},
      {"a\nsbx: forged", "a\\nsbx: forged"},
      {"cr\roverwrite", "cr\\roverwrite"},
      {"tab\there", "tab\\there"},
      {"\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"},                          // CSI: clear screen, home
      {"\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"},                    // OSC: window title
      {"\x1b]8;;http://x/\x1b\\link", "\\x1b]8;;http://x/\\x1b\\\\link"},  // OSC 8 hyperlink, ST
      {std::string("nul\0byte", 8), "nul\\x00byte"},
      {"del\x7f", "del\\x7f"},
      {"back\\slash", "back\\\\slash"},
      {"\xc2\x9b" "31m", "\\u009b31m"},                              // C1 CSI in UTF-8
      {"\xc2\x85next", "\\u0085next"},                               // NEL
      {"\xc2\x9d" "0;t\xc2\x9c", "\\u009d0;t\\u009c"},               // C1 OSC ... ST
      {"\xe2\x80\xae" "evil", "\\u202eevil"},                        // right-to-left override
      {"line\xe2\x80\xa8sep", "line\\u2028sep"},
      {"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x90\xa7", "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x90\xa7"},  // valid UTF-8 stays
      {"\x9b" "31m", "\\x9b31m"},                                    // a lone C1 byte is invalid UTF-8
      {"\xff\xfe", "\\xff\\xfe"},
      {"trunc\xe2\x80", "trunc\\xe2\\x80"},
      {"\xc0\xaf", "\\xc0\\xaf"},                                    // overlong '/'
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},                           // a UTF-16 surrogate
      {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},                  // beyond U+10FFFF
  };
  for (const auto& [in, want] : cases) {
    INFO("input: " << escape_for_terminal(in));
    CHECK(escape_for_terminal(in) == want);
  }
}

TEST_CASE("the escaped text holds no byte a terminal acts on", "[common][security]") {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (const char c : escape_for_terminal(all)) {
    const auto u = static_cast<unsigned char>(c);
    CHECK((u >= 0x20 && u < 0x7f));
  }
}

TEST_CASE("escape_lines_for_terminal prefixes each line so none can pass for sbx's own", "[common][security]") {
  CHECK(escape_lines_for_terminal("", "  | ").empty());
  CHECK(escape_lines_for_terminal("one\r\ntwo\n", "  | ") == "  | one\n  | two\n");
  CHECK(escape_lines_for_terminal("last without newline", "> ") == "> last without newline\n");
  CHECK(escape_lines_for_terminal("\nsbx: error: forged\x1b[2K\n", "  | ") == "  | \n  | sbx: error: forged\\x1b[2K\n");
  CHECK(escape_lines_for_terminal("cr\rin the middle\r\r\n", "") == "cr\\rin the middle\\r\n");
}

TEST_CASE("valid_utf8 accepts text and refuses malformed sequences", "[common]") {
  CHECK(sbx::text::valid_utf8(""));
  CHECK(sbx::text::valid_utf8("token-abc_123 caf\xc3\xa9 \xf0\x9f\x90\xa7"));
  CHECK_FALSE(sbx::text::valid_utf8("\xff"));
  CHECK_FALSE(sbx::text::valid_utf8("a\xe2\x80"));
  CHECK_FALSE(sbx::text::valid_utf8("\xc0\xaf"));
  CHECK_FALSE(sbx::text::valid_utf8("\xed\xa0\x80"));
}
