#pragma once
// Where policies come from, and the rule that system policies are signed when keys are trusted:
//   system  $SBX_SYSTEM_CONFIG_DIR/policies.d/*.toml   (default /etc/sbx/policies.d)
//   user    $SBX_CONFIG_DIR/policies.d/*.toml          (default ~/.config/sbx/policies.d)
//   env     SBX_POLICY_PATH: files or directories, separated by ':'
// All apply together. When none is found, the built-in baseline (policies/baseline.toml) applies.
// When $SBX_SYSTEM_CONFIG_DIR/trusted-keys.d holds any *.pub, every system policy needs a valid
// FILE.sig from one of them; otherwise discovery fails (fail closed), naming the file and why.
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "policy/policy.h"

namespace sbx::policy {

/// $SBX_SYSTEM_CONFIG_DIR, else /etc/sbx.
std::filesystem::path system_config_dir();
/// system_config_dir()/policies.d
std::filesystem::path system_policy_dir();
/// system_config_dir()/trusted-keys.d
std::filesystem::path trusted_keys_dir();
/// paths::config_dir()/policies.d
std::filesystem::path user_policy_dir();

/// The built-in baseline, as text, and loaded.
std::string_view baseline_text();
Result<Policy> baseline_policy();

/// Every active policy, in the order system, user, SBX_POLICY_PATH (each sorted by file name),
/// or the baseline alone. Any policy that cannot be read, parsed or (for system ones) verified
/// is an error: a policy sbx cannot apply is never skipped.
Result<std::vector<Policy>> discover_policies();

}  // namespace sbx::policy
