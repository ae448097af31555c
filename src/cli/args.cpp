#include "cli/args.h"

#include <algorithm>

#include "common/text.h"

namespace sbx::cli {
namespace {

const OptionSpec* find_long(const CommandSpec& spec, std::string_view name) {
  for (const auto& o : spec.options)
    if (o.long_name == name) return &o;
  return nullptr;
}

const OptionSpec* find_short(const CommandSpec& spec, char c) {
  for (const auto& o : spec.options)
    if (o.short_name == c) return &o;
  return nullptr;
}

Error usage_error(const CommandSpec& spec, std::string message, std::string hint = {}) {
  if (hint.empty()) hint = "run 'sbx " + std::string(spec.name) + " --help' for usage";
  return make_error(ErrorCode::usage, std::move(message), std::move(hint));
}

std::string unknown_option_hint(const CommandSpec& spec, std::string_view name) {
  std::vector<std::string> names;
  for (const auto& o : spec.options) names.emplace_back(o.long_name);
  names.emplace_back("help");
  const std::string guess = text::closest(name, std::span<const std::string>(names));
  if (!guess.empty()) return "did you mean '--" + guess + "'?";
  return {};
}

}  // namespace

std::optional<std::string> Args::value(std::string_view long_name) const {
  auto it = values.find(long_name);
  if (it == values.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::all(std::string_view long_name) const {
  auto it = values.find(long_name);
  return it == values.end() ? std::vector<std::string>{} : it->second;
}

Result<Args> parse_args(const CommandSpec& spec, const std::vector<std::string>& argv) {
  Args args;
  args.spec = &spec;
  auto store = [&](const OptionSpec& o, std::string value) -> Result<void> {
    auto& slot = args.values[std::string(o.long_name)];
    if (!slot.empty() && !o.repeatable && !o.value_name.empty())
      return std::unexpected(usage_error(spec, "option '--" + std::string(o.long_name) + "' given twice"));
    slot.push_back(std::move(value));
    return {};
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      if (!spec.takes_command)
        return std::unexpected(usage_error(spec, "'sbx " + std::string(spec.name) + "' takes no command after '--'"));
      args.command.assign(argv.begin() + static_cast<long>(i) + 1, argv.end());
      if (args.command.empty())
        return std::unexpected(usage_error(spec, "missing command after '--'"));
      break;
    }
    if (a.starts_with("--") ) {
      std::string name = a.substr(2);
      std::optional<std::string> inline_value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
      const OptionSpec* o = find_long(spec, name);
      if (!o)
        return std::unexpected(usage_error(spec, "unknown option '--" + name + "'", unknown_option_hint(spec, name)));
      if (o->value_name.empty()) {
        if (inline_value)
          return std::unexpected(usage_error(spec, "option '--" + name + "' takes no value"));
        SBX_TRY_VOID(store(*o, ""));
      } else {
        if (!inline_value) {
          if (i + 1 >= argv.size())
            return std::unexpected(usage_error(spec, "option '--" + name + "' needs a value (" +
                                                         std::string(o->value_name) + ")"));
          inline_value = argv[++i];
        }
        SBX_TRY_VOID(store(*o, *inline_value));
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-' ) {
      // Short flags may be grouped (-fq); a short option with a value takes the rest or the next word.
      for (size_t k = 1; k < a.size(); ++k) {
        const OptionSpec* o = find_short(spec, a[k]);
        if (!o)
          return std::unexpected(usage_error(spec, std::string("unknown option '-") + a[k] + "'"));
        if (o->value_name.empty()) {
          SBX_TRY_VOID(store(*o, ""));
          continue;
        }
        std::string v = a.substr(k + 1);
        if (v.empty()) {
          if (i + 1 >= argv.size())
            return std::unexpected(usage_error(spec, std::string("option '-") + a[k] + "' needs a value (" +
                                                         std::string(o->value_name) + ")"));
          v = argv[++i];
        }
        SBX_TRY_VOID(store(*o, v));
        break;
      }
      continue;
    }
    args.positionals.push_back(a);
  }
  if (args.positionals.size() < spec.min_positionals)
    return std::unexpected(usage_error(spec, "missing argument; usage: " + std::string(spec.usage)));
  if (args.positionals.size() > spec.max_positionals)
    return std::unexpected(usage_error(spec, "unexpected argument '" + args.positionals[spec.max_positionals] +
                                                  "'; usage: " + std::string(spec.usage)));
  return args;
}

std::string render_help(const CommandSpec& spec) {
  std::string out;
  out += "NAME\n    sbx " + std::string(spec.name) + " - " + std::string(spec.summary) + "\n\n";
  out += "SYNOPSIS\n    " + std::string(spec.usage) + "\n\n";
  if (!spec.description.empty()) {
    out += "DESCRIPTION\n";
    // Indent every line of the description by four spaces; section headings stay flush.
    std::string_view d = spec.description;
    size_t start = 0;
    while (start < d.size()) {
      size_t end = d.find('\n', start);
      if (end == std::string_view::npos) end = d.size();
      std::string_view line = d.substr(start, end - start);
      const bool heading = !line.empty() && std::all_of(line.begin(), line.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || c == ' ';
      });
      if (heading) out += "\n" + std::string(line) + "\n";
      else if (line.empty()) out += "\n";
      else out += "    " + std::string(line) + "\n";
      start = end + 1;
    }
    out += "\n";
  }
  out += "OPTIONS\n";
  for (const auto& o : spec.options) {
    std::string left = "    ";
    left += o.short_name ? std::string("-") + o.short_name + ", " : "    ";
    left += "--" + std::string(o.long_name);
    if (!o.value_name.empty()) left += " " + std::string(o.value_name);
    out += left + "\n        " + std::string(o.help) + "\n";
  }
  out += "    -h, --help\n        Show this help and exit.\n";
  return out;
}

}  // namespace sbx::cli
