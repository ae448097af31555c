#pragma once
// `sbx logs --egress`: the egress proxy's decision lines (JSON) as a human table row each.
#include <string>
#include <string_view>

namespace sbx::cli {

/// One table row for one JSON decision line; a line that is not a decision is returned as is.
std::string format_egress_line(std::string_view json_line);

/// The table's header row.
std::string egress_table_header();

}  // namespace sbx::cli
