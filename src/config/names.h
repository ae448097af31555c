#pragma once
// The spelling of each enum in a Sandboxfile, and the name rules (sandbox names, environment
// variables, secrets); presets are data (preset.h). Users follow guest/protocol/user.h, the guest's own rule.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/sandboxfile.h"

namespace sbx::config {

/// The Sandboxfile versions this build reads.
inline constexpr int kLatestVersion = 1;

/// "builtin", "rootfs", "archive", "registry" or "dev".
std::string_view to_string(ImageKind kind);
/// "exact", "wildcard", "regex" or "cidr".
std::string_view to_string(HostPatternKind kind);
/// "enforce" or "learn".
std::string_view to_string(EgressMode mode);
/// "header" or "env".
std::string_view to_string(InjectKind kind);
/// "auto" or "always".
std::string_view to_string(MountCache cache);
/// The cache policy a mount spells `name`, if any.
std::optional<MountCache> mount_cache_from_string(std::string_view name);

/// A valid sandbox name from a directory name: lower case, [a-z0-9-], at most 63, never empty.
std::string sanitise_name(std::string_view dir_name);
/// Whether `name` is a valid sandbox name (what sanitise_name produces).
bool valid_name(std::string_view name);

/// Whether `name` is an environment variable name: [A-Za-z_][A-Za-z0-9_]*, at most 128.
bool is_env_name(std::string_view name);
/// Whether sbx itself sets the variable `name` inside the VM (the proxy variables and SBX_*, in
/// any case), so neither a Sandboxfile nor an image may set it.
bool is_reserved_env_name(std::string_view name);
/// Whether `name` is a secret name: the secret store's alphabet (secrets/names.h),
/// [A-Za-z0-9_.-]{1,128}, not starting with '.' or '-'.
bool is_secret_name(std::string_view name);

}  // namespace sbx::config
