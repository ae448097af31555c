#pragma once
// Host paths written in a Sandboxfile: `~` expanded, relative ones resolved against the
// Sandboxfile's directory, then lexically normalised (the file system is not consulted).
#include <filesystem>
#include <string_view>

#include "common/error.h"

namespace sbx::config {

/// Resolve a host path as SPEC.md says; `~user` forms are refused.
Result<std::filesystem::path> resolve_host_path(std::string_view written, const std::filesystem::path& project_dir);

/// The current user's home directory ($HOME, else the password database).
std::filesystem::path home_dir();

/// Lexically normalised absolute path inside the VM, or an error when `written` is not absolute.
Result<std::string> normalise_guest_path(std::string_view written);

}  // namespace sbx::config
