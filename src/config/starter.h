#pragma once
// The commented starter Sandboxfiles `sbx init` writes, one per agent preset.
#include <string>
#include <string_view>

#include "config/preset.h"

namespace sbx::config {

/// A commented Sandboxfile for `preset`, named `name`, that the loader accepts as is: an agent
/// preset's egress rules and secret binding are written out, so the file shows what it allows.
std::string starter_sandboxfile(const Preset& preset, std::string_view name);

}  // namespace sbx::config
