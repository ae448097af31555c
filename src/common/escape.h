#pragma once
// Showing text sbx does not control (the guest's console, HELLO fields, exec errors) on a
// terminal or in a log line without letting it drive the terminal or forge lines of sbx's own.
#include <string>
#include <string_view>

namespace sbx::text {

/// One line, safe to print: C0 controls (newline and tab included), DEL, C1 controls (U+0080-U+009F),
/// line/paragraph separators and bidi overrides become visible escapes (`\n`, `\x1b`, `\u009b`,
/// `\u202e`), a backslash becomes `\\`, and each byte of invalid UTF-8 becomes `\xNN`. Printable
/// ASCII and other valid UTF-8 pass unchanged.
std::string escape_for_terminal(std::string_view text);

/// Several lines, each escaped as above and printed after `prefix`, each ending in '\n'. A trailing
/// '\r' of a line (serial consoles end lines in CRLF) is dropped; an empty text gives "".
std::string escape_lines_for_terminal(std::string_view text, std::string_view prefix);

/// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view text);

}  // namespace sbx::text
