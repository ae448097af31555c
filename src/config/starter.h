#pragma once
// The commented starter Sandboxfiles `sbx init` writes, one per agent preset.
#include <string>
#include <string_view>

#include "config/sandboxfile.h"

namespace sbx::config {

/// A commented Sandboxfile for `preset`, named `name`, that the loader accepts as is.
std::string starter_sandboxfile(AgentPreset preset, std::string_view name);

}  // namespace sbx::config
