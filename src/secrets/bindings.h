#pragma once
// Which Sandboxfile bindings ([[secrets]] entries) use which store secret, for `sbx secret ls`.
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"

namespace sbx::secrets {

/// One [[secrets]] entry of a Sandboxfile.
struct Binding {
  std::string secret;  // the store name it refers to
  std::string where;   // "path/Sandboxfile:12:3"
  std::string how;     // "header Authorization for api.github.com" or "env GITHUB_TOKEN"
};

/// The bindings of one Sandboxfile.
struct Bindings {
  std::filesystem::path sandboxfile;  // empty when none was found
  std::vector<Binding> items;
};

/// True when this build links the Sandboxfile loader (sbx_config).
bool bindings_supported();

/// Load the bindings of the Sandboxfile at `path` (a file or a directory holding one). With
/// `required` false, a missing Sandboxfile yields an empty result instead of an Error.
Result<Bindings> load_bindings(const std::filesystem::path& path, bool required);

}  // namespace sbx::secrets
