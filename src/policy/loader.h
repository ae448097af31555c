#pragma once
// Loading a policy file: parse (toml++), check every key, and report every problem in one run
// with file:line:col, the source line, a caret and a hint, as the Sandboxfile loader does.
#include <filesystem>
#include <string_view>

#include "common/error.h"
#include "policy/policy.h"

namespace sbx::policy {

/// The bytes of the policy file at `path` (at most 1 MiB, a regular file): what is verified
/// against a signature and then parsed, so both see the same text.
Result<std::string> read_policy_text(const std::filesystem::path& path);

/// Load the policy at `path`; `origin` says where it was found.
Result<Policy> load_policy_file(const std::filesystem::path& path, Origin origin);

/// Load from text; `display_name` names the file in messages and in every rule's location.
Result<Policy> load_policy_string(std::string_view text, std::string_view display_name, Origin origin);

}  // namespace sbx::policy
