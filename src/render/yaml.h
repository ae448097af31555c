#pragma once
// YAML text of a JSON tree, for manifests: block style, keys in the tree's order, every string
// double-quoted with escapes, so no value can turn into a number, a boolean, null or a second
// document, whichever YAML 1.1 or 1.2 parser reads it.
#include <string>

#include <nlohmann/json.hpp>

namespace sbx::render {

/// One YAML document (no `---`), ending in a newline. Integers, booleans and null are plain;
/// floats are not used by manifests and are refused (std::invalid_argument).
std::string to_yaml(const nlohmann::ordered_json& doc);

/// A double-quoted YAML scalar: `"`, `\`, control characters and every non-ASCII code point
/// escaped (so line-break characters such as U+2028 or NEL cannot fold), the rest as is.
std::string yaml_quote(std::string_view utf8);

}  // namespace sbx::render
