// Parsing the preset files (preset.h). Presets ship with sbx, but they are still checked key by
// key like a Sandboxfile: a typo in one must fail its test, not weaken every sandbox using it.
#include "config/preset.h"

#include <algorithm>
#include <span>

#include "config/toml.h"  // toml++ with its Unicode-table UB patched, as in every TOML parser

#include "common/log.h"
#include "config/defaults.h"
#include "config/diagnostics.h"
#include "config/egress_rule.h"
#include "config/names.h"
#include "config/secret_rules.h"
#include "config/units.h"

namespace sbx::config {

/// The embedded files: name -> text (presets_embedded.cpp, generated from src/config/presets/).
struct EmbeddedPreset {
  const char* name;
  const char* text;
};
extern const EmbeddedPreset kEmbeddedPresets[];
extern const std::size_t kEmbeddedPresetCount;

namespace {

constexpr std::string_view kTopKeys[] = {"description", "image", "package", "command", "env", "egress", "secret", "resources", "quirks"};
constexpr std::string_view kPackageKeys[] = {"npm", "version", "bin"};
constexpr std::string_view kCommandKeys[] = {"interactive", "headless"};
constexpr std::string_view kEgressKeys[] = {"allow"};
constexpr std::string_view kSecretKeys[] = {"name", "hosts", "header", "template"};
constexpr std::string_view kResourceKeys[] = {"cpus", "memory"};
constexpr std::string_view kQuirkKeys[] = {"notes"};

bool is_bin_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && s.front() != '.' && s.front() != '-' &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
         });
}

class PresetParser {
 public:
  PresetParser(std::string_view text, std::string_view name)
      : text_(text), display_("preset " + std::string(name) + ".toml"), diags_(text, display_) {
    preset_.name = std::string(name);
    preset_.display = display_;
  }

  Result<Preset> parse() {
    try {
      const toml::table root = toml::parse(text_, std::string_view(display_));
      read(root);
    } catch (const toml::parse_error& e) {
      add(e.source().begin, "invalid TOML: " + printable(e.description(), 200));
    }
    SBX_TRY_VOID(diags_.finish());
    return preset_;
  }

 private:
  void add(const toml::source_position& at, std::string message, std::string hint = {}) {
    diags_.add(static_cast<int>(at.line), static_cast<int>(at.column), std::move(message), std::move(hint));
  }
  void error(const toml::node& n, std::string message, std::string hint = {}) { add(n.source().begin, std::move(message), std::move(hint)); }
  Location where(const toml::node& n) const {
    return Location{display_, static_cast<int>(n.source().begin.line), static_cast<int>(n.source().begin.column)};
  }

  void check_keys(const toml::table& t, std::span<const std::string_view> allowed, std::string_view where) {
    for (auto&& [key, value] : t)
      if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
        std::string keys;
        for (auto k : allowed) keys += (keys.empty() ? "" : ", ") + std::string(k);
        add(key.source().begin, "unknown key '" + printable(key.str()) + "' in " + std::string(where), "the keys are: " + keys);
      }
  }

  const toml::table* table(const toml::table& root, std::string_view key) {
    const toml::node* n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) error(*n, "'" + std::string(key) + "' must be a table");
    return n->as_table();
  }

  std::optional<std::string> string(const toml::table& t, std::string_view key, bool required, std::string_view where) {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) add(t.source().begin, std::string(where) + " is missing '" + std::string(key) + "'");
      return std::nullopt;
    }
    if (!n->is_string() || n->as_string()->get().size() > 4096 || n->as_string()->get().find('\0') != std::string::npos) {
      error(*n, "'" + std::string(key) + "' must be a string of at most 4096 bytes");
      return std::nullopt;
    }
    return n->as_string()->get();
  }

  std::optional<std::vector<std::string>> strings(const toml::table& t, std::string_view key, size_t max) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const toml::array* a = n->as_array();
    if (!a || a->size() > max) {
      error(*n, "'" + std::string(key) + "' must be an array of at most " + std::to_string(max) + " strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (const toml::node& el : *a) {
      if (!el.is_string()) {
        error(el, "each entry of '" + std::string(key) + "' must be a string");
        return std::nullopt;
      }
      out.push_back(el.as_string()->get());
    }
    return out;
  }

  void read(const toml::table& root) {
    check_keys(root, kTopKeys, "a preset");
    preset_.description = string(root, "description", true, "a preset").value_or("");
    if (auto image = string(root, "image", false, "a preset")) {
      if (*image == "dev") preset_.dev_image = true;
      else if (*image != "builtin") error(*root.get("image"), "'image' must be \"dev\" or \"builtin\"");
    }
    if (const toml::table* t = table(root, "package")) read_package(*t);
    if (const toml::table* t = table(root, "command")) read_command(*t);
    else add(root.source().begin, "a preset is missing [command]", "add [command] interactive = [\"...\"]");
    if (const toml::table* t = table(root, "env")) read_env(*t);
    if (const toml::table* t = table(root, "egress")) read_egress(*t);
    if (const toml::table* t = table(root, "secret")) read_secret(*t);
    if (const toml::table* t = table(root, "resources")) read_resources(*t);
    if (const toml::table* t = table(root, "quirks")) {
      check_keys(*t, kQuirkKeys, "[quirks]");
      preset_.quirks = strings(*t, "notes", 32).value_or(std::vector<std::string>{});
    }
    if (preset_.package && !preset_.dev_image)
      add(root.source().begin, "a preset with [package] must say image = \"dev\"", "the package is installed as a layer of the dev image");
  }

  void read_package(const toml::table& t) {
    check_keys(t, kPackageKeys, "[package]");
    NpmPackage p;
    p.name = string(t, "npm", true, "[package]").value_or("");
    p.version = string(t, "version", true, "[package]").value_or("");
    p.bin = string(t, "bin", true, "[package]").value_or("");
    bool ok = true;
    if (!p.name.empty() && !is_npm_package_name(p.name)) { error(*t.get("npm"), "'" + printable(p.name) + "' is not an npm package name"); ok = false; }
    if (!p.version.empty() && !is_npm_version_spec(p.version)) { error(*t.get("version"), "'" + printable(p.version) + "' is not an npm version, tag or range"); ok = false; }
    if (!p.bin.empty() && !is_bin_name(p.bin)) { error(*t.get("bin"), "'" + printable(p.bin) + "' is not a command name"); ok = false; }
    if (ok && !p.name.empty() && !p.version.empty() && !p.bin.empty()) preset_.package = std::move(p);
  }

  void read_command(const toml::table& t) {
    check_keys(t, kCommandKeys, "[command]");
    preset_.command = strings(t, "interactive", 64).value_or(std::vector<std::string>{});
    preset_.headless = strings(t, "headless", 64).value_or(std::vector<std::string>{});
    if (preset_.command.empty() || preset_.command.front().empty())
      add(t.source().begin, "[command] needs a non-empty 'interactive' command");
  }

  void read_env(const toml::table& t) {
    for (auto&& [key, value] : t) {
      const std::string k(key.str());
      if (!is_env_name(k) || is_reserved_env_name(k)) {
        add(key.source().begin, "'" + printable(k) + "' is not a variable a preset may set");
        continue;
      }
      if (!value.is_string()) {
        error(value, "the value of '" + k + "' must be a string");
        continue;
      }
      preset_.env[k] = value.as_string()->get();
    }
  }

  void read_egress(const toml::table& t) {
    check_keys(t, kEgressKeys, "[egress]");
    const toml::node* n = t.get("allow");
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a || a->size() > 64) {
      error(*n, "'allow' must be an array of at most 64 rules");
      return;
    }
    for (const toml::node& el : *a) {
      if (!el.is_string()) {
        error(el, "a preset's egress rule must be a string");
        continue;
      }
      auto rule = parse_egress_rule(el.as_string()->get());
      if (!rule) {
        error(el, "invalid egress rule: " + rule.error().message, rule.error().hint);
        continue;
      }
      rule->location = where(el);
      preset_.allow.push_back(std::move(*rule));
    }
  }

  void read_secret(const toml::table& t) {
    check_keys(t, kSecretKeys, "[secret]");
    Secret s;
    s.location = where(t);
    s.inject = InjectKind::header;
    s.name = string(t, "name", true, "[secret]").value_or("");
    s.header = string(t, "header", true, "[secret]").value_or("");
    s.value_template = string(t, "template", false, "[secret]").value_or("{}");
    s.hosts = strings(t, "hosts", 16).value_or(std::vector<std::string>{});
    bool ok = !s.name.empty() && !s.header.empty() && !s.hosts.empty();
    if (s.hosts.empty()) add(t.source().begin, "[secret] needs 'hosts'");
    if (auto r = check_secret_name(s.name); !s.name.empty() && !r) { error(*t.get("name"), r.error().message, r.error().hint); ok = false; }
    if (auto r = check_secret_header(s.header); !s.header.empty() && !r) { error(*t.get("header"), r.error().message, r.error().hint); ok = false; }
    if (auto r = check_value_template(s.value_template); !r) { add(t.source().begin, r.error().message, r.error().hint); ok = false; }
    const HostMatcher allowed(preset_.allow), denied({});
    for (std::string& h : s.hosts) {
      auto host = check_secret_host(h, allowed, denied);
      if (!host) { add(t.source().begin, host.error().message, "a preset's secret hosts must be in its [egress] allow"); ok = false; }
      else h = *host;
    }
    if (ok) preset_.secret = std::move(s);
  }

  void read_resources(const toml::table& t) {
    check_keys(t, kResourceKeys, "[resources]");
    if (const toml::node* n = t.get("cpus")) {
      const auto* i = n->as_integer();
      if (!i || i->get() < kMinCpus || i->get() > 16) error(*n, "'cpus' must be an integer from 1 to 16");
      else preset_.cpus = static_cast<unsigned>(i->get());
    }
    if (auto m = string(t, "memory", false, "[resources]")) {
      auto bytes = parse_size(*m);
      if (!bytes || *bytes < kMinMemoryBytes || *bytes > (64ull << 30)) error(*t.get("memory"), "'memory' must be a size from 64MiB to 64GiB");
      else preset_.memory_bytes = *bytes;
    }
  }

  std::string_view text_;
  std::string display_;
  Diagnostics diags_;
  Preset preset_;
};

std::vector<Preset> parse_embedded() {
  std::vector<Preset> out;
  for (std::size_t i = 0; i < kEmbeddedPresetCount; ++i) {
    auto p = parse_preset(kEmbeddedPresets[i].text, kEmbeddedPresets[i].name);
    if (p) out.push_back(std::move(*p));
    else sbx::log::get("config")->error("preset {} is broken and left out: {}", kEmbeddedPresets[i].name, p.error().render());
  }
  std::sort(out.begin(), out.end(), [](const Preset& a, const Preset& b) { return a.name < b.name; });
  return out;
}

}  // namespace

bool is_npm_package_name(std::string_view name) {
  if (name.empty() || name.size() > 214) return false;
  auto part = [](std::string_view s) {
    return !s.empty() && s.front() != '.' && s.front() != '_' && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    });
  };
  if (name.front() == '@') {
    const size_t slash = name.find('/');
    return slash != std::string_view::npos && part(name.substr(1, slash - 1)) && part(name.substr(slash + 1));
  }
  return part(name);
}

bool is_npm_version_spec(std::string_view v) {
  return !v.empty() && v.size() <= 64 && v.front() != '-' && std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '^' || c == '~' ||
           c == '<' || c == '>' || c == '=' || c == '*' || c == '+' || c == '-';
  });
}

bool is_exact_npm_version(std::string_view v) {
  if (!is_npm_version_spec(v)) return false;
  int dots = 0;
  size_t i = 0;
  bool digit = false;
  for (; i < v.size() && dots <= 2; ++i) {
    const char c = v[i];
    if (c >= '0' && c <= '9') digit = true;
    else if (c == '.' && digit && dots < 2) { ++dots; digit = false; }
    else break;
  }
  if (dots != 2 || !digit) return false;
  return i == v.size() || v[i] == '-' || v[i] == '+';
}

Result<Preset> parse_preset(std::string_view text, std::string_view name) { return PresetParser(text, name).parse(); }

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = parse_embedded();
  return all;
}

const Preset* find_preset(std::string_view name) {
  for (const Preset& p : presets())
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<std::string_view> preset_names() {
  std::vector<std::string_view> out;
  for (const Preset& p : presets()) out.push_back(p.name);
  return out;
}

}  // namespace sbx::config
