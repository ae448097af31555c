#pragma once
// Internal: the character classes of RFC 9110 5.6.2 (token) and 5.5 (field value), shared by the
// head parser and the chunked framer's trailer check, so both refuse exactly the same bytes.
#include <cstring>

namespace sbx::proxy {

/// tchar: a byte allowed in a token (header names, methods, chunk extensions).
inline bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

/// A byte allowed in a field value: visible characters, space and tab (no other controls, no DEL).
inline bool is_value_char(unsigned char c) { return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f); }

}  // namespace sbx::proxy
