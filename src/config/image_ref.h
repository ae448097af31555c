#pragma once
// [image] references: "builtin", a local rootfs directory, an OCI/Docker image archive, or a
// registry reference; plus the optional "sha256:<hex>" digest pin.
#include <filesystem>
#include <string_view>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::config {

/// Classify and normalise `ref` (paths resolved against `project_dir`); `location` is left empty.
Result<Image> parse_image_ref(std::string_view ref, const std::filesystem::path& project_dir);

/// Check a digest pin: "sha256:" and 64 lower-case hex digits.
Result<std::string> parse_digest(std::string_view text);

}  // namespace sbx::config
