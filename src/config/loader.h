#pragma once
// Loading a Sandboxfile: parse (toml++), validate every key, normalise, and report every
// problem in one run with file:line:col, the source line, a caret, and a hint.
#include <filesystem>
#include <string_view>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::config {

/// Load from a path: a Sandboxfile, or a directory containing one.
Result<Sandboxfile> load_file(const std::filesystem::path& path);

/// Load from text; `display_name` is used in messages, `project_dir` resolves relative paths.
Result<Sandboxfile> load_string(std::string_view text, std::string_view display_name,
                                const std::filesystem::path& project_dir);

}  // namespace sbx::config
