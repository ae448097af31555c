#pragma once
// The tool runner now lives in common/run_tool.h; these names remain for the guest tests
// (tests/guest/cpio_test.cpp, builders_test.cpp) until they include it themselves.
#include "common/run_tool.h"

namespace sbx::guest {

using sbx::find_tool;
using sbx::run_tool;
using sbx::ToolResult;

}  // namespace sbx::guest
