#pragma once
// A small declarative argument parser: each command declares its options once, and the same
// declaration drives parsing, "did you mean" on typos, and the man-page style --help.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace sbx::cli {

/// One option of a command. An empty value_name makes it a flag.
struct OptionSpec {
  std::string_view long_name;   // without the leading "--"
  char short_name = 0;          // 0 when there is no short form
  std::string_view value_name;  // e.g. "PATH"; empty for a flag
  std::string_view help;
  bool repeatable = false;
};

struct Args;

/// One command ("validate", "secret set", ...): its help text, options and entry point.
struct CommandSpec {
  std::string_view name;         // words separated by one space
  std::string_view summary;      // one line, for the command list
  std::string_view usage;        // "sbx validate [OPTIONS] [PATH]"
  std::string_view description;  // paragraphs for --help (DESCRIPTION, EXIT STATUS, EXAMPLES)
  std::vector<OptionSpec> options;
  size_t min_positionals = 0;
  size_t max_positionals = 0;    // kUnlimited for no bound
  bool takes_command = false;    // accepts "-- CMD ARGS..." (collected in Args::command)
  int (*run)(const Args&) = nullptr;
};

inline constexpr size_t kUnlimited = static_cast<size_t>(-1);

/// The parsed command line of one command.
struct Args {
  const CommandSpec* spec = nullptr;
  std::map<std::string, std::vector<std::string>, std::less<>> values;  // by long name; flags map to {""}
  std::vector<std::string> positionals;
  std::vector<std::string> command;  // after "--"

  bool flag(std::string_view long_name) const { return values.contains(long_name); }
  std::optional<std::string> value(std::string_view long_name) const;
  std::vector<std::string> all(std::string_view long_name) const;
};

/// Parse `argv` (the words after the command name) against `spec`.
Result<Args> parse_args(const CommandSpec& spec, const std::vector<std::string>& argv);

/// The man-page style help of one command.
std::string render_help(const CommandSpec& spec);

}  // namespace sbx::cli
