#pragma once
// Small text helpers shared by the CLI and the validators.
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::text {

/// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(std::string_view a, std::string_view b);

/// The closest candidate within a small distance of `word`, or "" when none is close.
std::string closest(std::string_view word, std::span<const std::string_view> candidates);
std::string closest(std::string_view word, std::span<const std::string> candidates);

/// Split on a single character; keeps empty fields.
std::vector<std::string> split(std::string_view s, char sep);

/// A decimal number in [min, max]: digits only, so no sign, space, suffix ("10s") or overflow;
/// nullopt otherwise. Callers say which flag or field was wrong and the range allowed.
std::optional<std::uint64_t> parse_uint(std::string_view s, std::uint64_t min = 0,
                                        std::uint64_t max = std::numeric_limits<std::uint64_t>::max());

/// Quote a string for display in a shell-like way when it has spaces or specials.
std::string shell_quote(std::string_view s);

}  // namespace sbx::text
