#include "secrets/names.h"

#include <string>

namespace sbx::secrets {
namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

std::string show_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
  static const char* hex = "0123456789abcdef";
  return std::string("byte 0x") + hex[u >> 4] + hex[u & 15];
}

const char* kAlphabetHint =
    "use 1-128 characters from A-Z a-z 0-9 _ . - starting with a letter, a digit or '_' (e.g. GITHUB_TOKEN)";

}  // namespace

Result<void> validate_name(std::string_view name) {
  if (name.empty()) return fail(ErrorCode::invalid, "secret name is empty", kAlphabetHint);
  if (name.size() > kMaxNameLength)
    return fail(ErrorCode::invalid,
                "secret name is " + std::to_string(name.size()) + " characters long (at most " +
                    std::to_string(kMaxNameLength) + ")",
                kAlphabetHint);
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = is_alnum(c) || c == '_' || (i > 0 && (c == '.' || c == '-'));
    if (!ok) {
      // Never echo the whole name back: a user may have pasted a value by mistake.
      return fail(ErrorCode::invalid,
                  "secret name has " + show_char(c) + " at position " + std::to_string(i + 1) +
                      (i == 0 && (c == '.' || c == '-') ? ", which cannot start a name" : ", which is not allowed"),
                  kAlphabetHint);
    }
  }
  return {};
}

}  // namespace sbx::secrets
