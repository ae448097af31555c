#pragma once
// Paths a policy names: "/abs", "~", "~/x", and "@sbx-state", "@sbx-data", "@sbx-config",
// "@sbx-cache" (sbx's own directories, wherever SBX_*_DIR and XDG put them), each optionally
// followed by "/more". Resolved when a check runs, on the host it runs on.
#include <filesystem>
#include <string_view>

#include "common/error.h"

namespace sbx::policy {

/// Whether `written` is a path form a policy may use; the error says which forms are.
Result<void> check_policy_path(std::string_view written);

/// `written` expanded (`~`, `@sbx-*`) and resolved like realpath: symlinks followed and `..`
/// removed as far as the path exists, the rest normalised lexically.
std::filesystem::path resolve_policy_path(std::string_view written);

/// `p` with every symlink and `..` resolved as far as it exists (what a mount would serve).
std::filesystem::path real_path(const std::filesystem::path& p);

/// Whether `p` is `root` or inside it (both absolute and normal).
bool path_within(const std::filesystem::path& p, const std::filesystem::path& root);

}  // namespace sbx::policy
