#pragma once
// [image] references: "builtin", "dev", "saved:NAME", a local rootfs directory, an OCI/Docker image archive, or a
// registry reference; plus the optional "sha256:<hex>" digest pin.
#include <filesystem>
#include <string_view>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::config {

/// Classify and normalise `ref` (paths resolved against `project_dir`); `location` is left empty.
Result<Image> parse_image_ref(std::string_view ref, const std::filesystem::path& project_dir);

/// True for a name `sbx save` accepts (the NAME of "saved:NAME"): 1 to 64 characters of
/// [a-z0-9._-], starting with a letter or digit.
bool valid_saved_name(std::string_view name);

/// Check a digest pin: "sha256:" and 64 lower-case hex digits.
Result<std::string> parse_digest(std::string_view text);

}  // namespace sbx::config
