#pragma once
// Sizes with units ("512MiB", "2GiB", "1G"): binary suffixes (KiB..TiB) are powers of 1024,
// decimal ones (K/KB..T/TB) powers of 1000, as SPEC.md documents.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace sbx::config {

/// Parse a size such as "512MiB" into bytes; the error message says what was wrong.
Result<std::uint64_t> parse_size(std::string_view text);

/// The shortest exact rendering of a byte count ("512MiB", "2GiB", "1500000000B").
std::string format_size(std::uint64_t bytes);

}  // namespace sbx::config
