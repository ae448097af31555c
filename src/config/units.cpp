#include "config/units.h"

#include <array>
#include <cctype>
#include <limits>
#include <utility>

namespace sbx::config {

namespace {
struct Unit {
  std::string_view name;
  std::uint64_t factor;
};
constexpr std::uint64_t kKi = 1024;
constexpr std::array<Unit, 13> kUnits{{
    {"b", 1},
    {"k", 1000}, {"kb", 1000}, {"kib", kKi},
    {"m", 1000'000}, {"mb", 1000'000}, {"mib", kKi * kKi},
    {"g", 1000'000'000}, {"gb", 1000'000'000}, {"gib", kKi * kKi * kKi},
    {"t", 1000'000'000'000}, {"tb", 1000'000'000'000}, {"tib", kKi * kKi * kKi * kKi},
}};
constexpr std::string_view kHint = "write a whole number and a unit, e.g. \"512MiB\" or \"2GiB\" (KiB/MiB/GiB/TiB are powers of 1024; K/M/G/T and KB/MB/GB/TB powers of 1000)";
}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
  size_t i = 0;
  std::uint64_t number = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (number > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
      return fail(ErrorCode::invalid, "size is too large", std::string(kHint));
    number = number * 10 + digit;
    ++i;
  }
  if (i == 0) return fail(ErrorCode::invalid, "a size must start with a whole number", std::string(kHint));
  if (i < text.size() && (text[i] == '.' || text[i] == ','))
    return fail(ErrorCode::invalid, "sizes are whole numbers",
                "use a smaller unit instead of a fraction, e.g. \"1536MiB\" for 1.5GiB");
  if (i < text.size() && text[i] == ' ') ++i;  // "512 MiB" reads naturally; allow one space
  std::string unit;
  for (size_t j = i; j < text.size(); ++j) {
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[j])));
  }
  if (unit.empty()) return fail(ErrorCode::invalid, "a size needs a unit", std::string(kHint));
  for (const Unit& u : kUnits) {
    if (u.name != unit) continue;
    if (number > std::numeric_limits<std::uint64_t>::max() / u.factor)
      return fail(ErrorCode::invalid, "size is too large", std::string(kHint));
    return number * u.factor;
  }
  return fail(ErrorCode::invalid, "unknown size unit '" + std::string(text.substr(i)) + "'", std::string(kHint));
}

std::string format_size(std::uint64_t bytes) {
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 4> kBinary{{
      {"TiB", kKi * kKi * kKi * kKi}, {"GiB", kKi * kKi * kKi}, {"MiB", kKi * kKi}, {"KiB", kKi}}};
  for (const auto& [name, factor] : kBinary)
    if (bytes >= factor && bytes % factor == 0) return std::to_string(bytes / factor) + std::string(name);
  return std::to_string(bytes) + "B";
}

}  // namespace sbx::config
