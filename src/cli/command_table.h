#pragma once
// The one table of sbx commands: dispatch and the top-level help both read it (kvmtool style).
#include <span>

#include "cli/args.h"

namespace sbx::cli {

/// Every command, in the order the top-level help lists them.
std::span<const CommandSpec* const> command_table();

}  // namespace sbx::cli
