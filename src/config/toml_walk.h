#pragma once
// The checks both TOML loaders make while walking a document (config/loader.cpp for the
// Sandboxfile, policy/loader.cpp for policies): names of node types for messages, "did you
// mean", and typed access that reports a wrong type, an oversized value or a NUL and returns
// nothing. Header-only because toml++ is compiled into those two translation units only.
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/text.h"
#include "config/diagnostics.h"
#include "config/toml.h"

namespace sbx::config::toml_walk {

/// "a table", "a string", ... for "must be X, found Y" messages.
inline std::string type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

/// The words joined with `sep` (the list of allowed keys in a hint).
inline std::string join(std::span<const std::string_view> words, std::string_view sep = ", ") {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += sep;
    out += w;
  }
  return out;
}

/// "did you mean": the closest spelling, or the one candidate that starts with what was written.
inline std::string suggest(std::string_view word, std::span<const std::string_view> candidates) {
  if (std::string g = text::closest(word, candidates); !g.empty()) return g;
  std::string found;
  for (std::string_view c : candidates) {
    if (word.size() >= 3 && c.starts_with(word)) {
      if (!found.empty()) return {};
      found = c;
    }
  }
  return found;
}

/// Add a problem at the start of `where`.
inline void error_at(Diagnostics& diags, const toml::source_region& where, std::string message, std::string hint = {}) {
  diags.add(static_cast<int>(where.begin.line), static_cast<int>(where.begin.column), std::move(message), std::move(hint));
}

/// `n` as a string of at most `max_bytes` without NUL; otherwise a problem and nullopt.
inline std::optional<std::string> string_of(Diagnostics& diags, const toml::node& n, std::string_view what,
                                            std::string_view example, size_t max_bytes) {
  const auto* s = n.as_string();
  if (!s) {
    error_at(diags, n.source(), std::string(what) + " must be a string, found " + type_name(n.type()),
             "write it in quotes, e.g. " + std::string(example));
    return std::nullopt;
  }
  const std::string& v = s->get();
  if (v.size() > max_bytes) {
    error_at(diags, n.source(), std::string(what) + " is longer than " + std::to_string(max_bytes) + " bytes");
    return std::nullopt;
  }
  if (v.find('\0') != std::string::npos) {
    error_at(diags, n.source(), std::string(what) + " contains a NUL character", "remove the \\u0000 escape");
    return std::nullopt;
  }
  return v;
}

/// `n` as an array of at most `max` entries; otherwise a problem and nullptr.
inline const toml::array* array_of(Diagnostics& diags, const toml::node& n, std::string_view what, std::string_view example,
                                   size_t max) {
  const auto* a = n.as_array();
  if (!a) {
    error_at(diags, n.source(), std::string(what) + " must be an array, found " + type_name(n.type()),
             "write it in brackets, e.g. " + std::string(example));
    return nullptr;
  }
  if (a->size() > max) {
    error_at(diags, n.source(), std::string(what) + " has " + std::to_string(a->size()) + " entries; at most " +
                                    std::to_string(max) + " are allowed");
    return nullptr;
  }
  return a;
}

}  // namespace sbx::config::toml_walk
