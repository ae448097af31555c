#include "render/yaml.h"

#include <cstdio>
#include <stdexcept>

namespace sbx::render {

namespace {

using nlohmann::ordered_json;

// Keys Kubernetes uses ("app.kubernetes.io/name", "NODE_OPTIONS", "ephemeral-storage") are plain;
// anything else, or a word YAML 1.1 reads as a boolean or null, is quoted.
bool plain_key(std::string_view k) {
  if (k.empty()) return false;
  const char c0 = k.front();
  if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 == '_')) return false;
  for (char c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.' || c == '/'))
      return false;
  static constexpr std::string_view kWords[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"};
  std::string lower;
  for (char c : k) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (auto w : kWords)
    if (lower == w) return false;
  return true;
}

std::string key_text(const std::string& k) { return plain_key(k) ? k : yaml_quote(k); }

std::string scalar(const ordered_json& v) {
  switch (v.type()) {
    case ordered_json::value_t::null: return "null";
    case ordered_json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case ordered_json::value_t::number_integer:
    case ordered_json::value_t::number_unsigned: return v.dump();
    case ordered_json::value_t::string: return yaml_quote(v.get_ref<const std::string&>());
    case ordered_json::value_t::object: return "{}";
    case ordered_json::value_t::array: return "[]";
    default: throw std::invalid_argument("to_yaml: unsupported JSON value " + v.dump());
  }
}

bool nested(const ordered_json& v) { return (v.is_object() || v.is_array()) && !v.empty(); }

void emit(const ordered_json& v, int indent, std::string& out);

void emit_object(const ordered_json& v, int indent, std::string& out, bool first_inline) {
  bool first = true;
  for (const auto& [k, item] : v.items()) {
    if (!(first && first_inline)) out.append(static_cast<size_t>(indent), ' ');
    first = false;
    out += key_text(k) + ":";
    if (nested(item)) {
      out += "\n";
      // Sequences under a key sit at the key's indent, as kubectl writes them.
      emit(item, item.is_array() ? indent : indent + 2, out);
    } else {
      out += " " + scalar(item) + "\n";
    }
  }
}

void emit(const ordered_json& v, int indent, std::string& out) {
  if (v.is_object()) return emit_object(v, indent, out, false);
  for (const auto& item : v) {
    out.append(static_cast<size_t>(indent), ' ');
    out += "-";
    if (item.is_object() && !item.empty()) {
      out += " ";
      emit_object(item, indent + 2, out, true);
    } else if (nested(item)) {
      out += "\n";
      emit(item, indent + 2, out);
    } else {
      out += " " + scalar(item) + "\n";
    }
  }
}

// The code point at s[i] (valid UTF-8: toml++ and nlohmann checked it), advancing i.
char32_t next_code_point(std::string_view s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  int len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  if (i + static_cast<size_t>(len) > s.size()) throw std::invalid_argument("yaml_quote: truncated UTF-8");
  char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
  i += static_cast<size_t>(len);
  return cp;
}

}  // namespace

std::string yaml_quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const char32_t cp = next_code_point(s, i);
    char buf[16];
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\t': out += "\\t"; continue;
      case '\r': out += "\\r"; continue;
      default: break;
    }
    if (cp >= 0x20 && cp < 0x7F) {
      out += static_cast<char>(cp);
    } else if (cp <= 0xFFFF) {
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp));
      out += buf;
    } else {
      std::snprintf(buf, sizeof buf, "\\U%08X", static_cast<unsigned>(cp));
      out += buf;
    }
  }
  return out + "\"";
}

std::string to_yaml(const ordered_json& doc) {
  std::string out;
  if (!nested(doc)) return scalar(doc) + "\n";
  emit(doc, 0, out);
  return out;
}

}  // namespace sbx::render
