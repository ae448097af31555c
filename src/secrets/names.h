#pragma once
// Secret names: a small safe alphabet, because a name becomes a file name in the store.
#include <string_view>

#include "common/error.h"

namespace sbx::secrets {

/// Longest accepted secret name.
inline constexpr std::size_t kMaxNameLength = 128;  // as sandboxfile-spec allows

/// Accepts 1-128 characters from [A-Za-z0-9_.-], starting with a letter, digit or '_'
/// (so never "." / ".." / a hidden file / an option-looking "-x"); otherwise an `invalid` Error
/// naming the offending character and its position.
Result<void> validate_name(std::string_view name);

}  // namespace sbx::secrets
