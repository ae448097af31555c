#include "common/escape.h"

#include <cstdint>

namespace sbx::text {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void hex_byte(std::string& out, unsigned char c) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

void hex_code_point(std::string& out, std::uint32_t cp) {
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 15];
}

// Code points that move the cursor, end a line or reorder what follows when printed.
bool hidden_control(std::uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f)                   // C1 controls (CSI, OSC, NEL, ...)
         || cp == 0x2028 || cp == 0x2029              // line and paragraph separators
         || (cp >= 0x202a && cp <= 0x202e)            // bidi embeddings and overrides
         || (cp >= 0x2066 && cp <= 0x2069)            // bidi isolates
         || cp == 0x200e || cp == 0x200f || cp == 0x061c;  // bidi marks
}

// The length of the valid UTF-8 sequence at `s[i]` (2-4) and its code point, or 0 when invalid
// (bad lead byte, truncated, overlong, surrogate, beyond U+10FFFF).
size_t decode(std::string_view s, size_t i, std::uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char lead = b(0);
  size_t n;
  std::uint32_t min;
  if (lead >= 0xc2 && lead <= 0xdf) n = 2, cp = lead & 0x1f, min = 0x80;
  else if (lead >= 0xe0 && lead <= 0xef) n = 3, cp = lead & 0x0f, min = 0x800;
  else if (lead >= 0xf0 && lead <= 0xf4) n = 4, cp = lead & 0x07, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

std::string escape_for_terminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) hex_byte(out, c);
          else out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    const size_t n = decode(text, i, cp);
    if (n == 0) {
      hex_byte(out, c);
      ++i;
      continue;
    }
    if (hidden_control(cp)) hex_code_point(out, cp);
    else out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

bool valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    const size_t n = decode(text, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string escape_lines_for_terminal(std::string_view text, std::string_view prefix) {
  std::string out;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    out.append(prefix);
    out += escape_for_terminal(line);
    out += '\n';
  }
  return out;
}

}  // namespace sbx::text
