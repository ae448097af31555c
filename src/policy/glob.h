#pragma once
// The patterns a policy writes for image references and secret names: `*` matches any run of
// characters except `/`, `**` any run including `/`, `?` one character except `/`; everything
// else matches itself. The whole text must match.
#include <string_view>

namespace sbx::policy {

/// Whether `text` matches `pattern` as a whole.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace sbx::policy
