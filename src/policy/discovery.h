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

/// Where discovery looks: what the environment of one process says, written down so another
/// process (the egress proxy child, whose working directory and environment differ) can look in
/// exactly the same places.
struct Sources {
  std::filesystem::path system_config;      // holds policies.d and trusted-keys.d
  std::filesystem::path user_policies;      // the user's policies.d
  std::vector<std::filesystem::path> path;  // SBX_POLICY_PATH entries, in order
  bool operator==(const Sources&) const = default;
};

/// The sources this process's environment names (SBX_POLICY_PATH entries as written).
Sources current_sources();
/// `s` with every path absolute (relative ones against the working directory).
Sources absolute_sources(Sources s);

/// Every active policy, in the order system, user, SBX_POLICY_PATH (each sorted by file name),
/// or the baseline alone. Any policy that cannot be read, parsed or (for system ones) verified
/// is an error: a policy sbx cannot apply is never skipped.
Result<std::vector<Policy>> discover_policies();
/// The same, looking in `sources`.
Result<std::vector<Policy>> discover_policies(const Sources& sources);

/// A cheap summary of everything discovery in `sources` would read (the listing, size, mtime and
/// inode of every policy, signature and trusted key): it changes when any of them does.
std::string sources_fingerprint(const Sources& sources);

}  // namespace sbx::policy
