// The policy's translation unit that includes toml++ (config/loader.cpp is the Sandboxfile's):
// parse, then walk every table checking each key, collecting every problem as a Diagnostic
// (file:line:col, source line, hint), and fail once. The rules' meaning lives in check_*.cpp.
#include "policy/loader.h"

#include <algorithm>
#include <fstream>
#include <span>

#include "common/text.h"
#include "config/diagnostics.h"
#include "config/egress_rule.h"
#include "config/names.h"
#include "config/preset.h"
#include "config/toml.h"
#include "config/toml_walk.h"
#include "config/units.h"
#include "policy/policy_paths.h"

namespace sbx::policy {

namespace {

namespace fs = std::filesystem;
using config::printable;
using config::toml_walk::join;
using config::toml_walk::suggest;
using config::toml_walk::type_name;

// A policy is a short file; anything past these is a mistake or an attack.
constexpr std::uintmax_t kMaxFileBytes = 1 << 20;
constexpr size_t kMaxList = 4096;
constexpr size_t kMaxGrants = 256;
constexpr size_t kMaxString = 4096;
constexpr int kLatestVersion = 1;

constexpr std::string_view kTopKeys[] = {"version", "name", "description", "enforcement", "images", "mounts",
                                         "egress", "secrets", "resources", "agents", "docker"};
constexpr std::string_view kImageKeys[] = {"allow", "require_digest"};
constexpr std::string_view kMountKeys[] = {"deny", "deny_itself", "read_only", "max", "allow_rw", "protect"};
constexpr std::string_view kEgressKeys[] = {"deny", "ceiling", "allow_ip_literals", "allow_cidrs",
                                            "allow_private_ranges", "allow_learn"};
constexpr std::string_view kSecretKeys[] = {"deny", "allow", "allow_env"};
constexpr std::string_view kGrantKeys[] = {"names", "hosts", "inject"};
constexpr std::string_view kResourceKeys[] = {"max_cpus", "max_memory", "max_disk"};
constexpr std::string_view kAgentKeys[] = {"allow"};
constexpr std::string_view kDockerKeys[] = {"allow"};
constexpr std::string_view kRuleKeys[] = {"host", "ports"};

class Loader {
 public:
  Loader(std::string_view text, std::string display) : text_(text), display_(display), diags_(text, std::move(display)) {}

  Result<Policy> load(Origin origin) {
    Policy out;
    out.origin = origin;
    out.display = display_;
    try {
      const toml::table root = toml::parse(text_, std::string_view(display_));
      read_root(root, out);
    } catch (const toml::parse_error& e) {
      const auto& b = e.source().begin;
      diags_.add(static_cast<int>(b.line), static_cast<int>(b.column), "invalid TOML: " + printable(e.description(), 200),
                 "see https://toml.io for the syntax; strings need quotes, tables are written [name]");
    }
    SBX_TRY_VOID(diags_.finish());
    return out;
  }

 private:
  Location at(const toml::node& n) const {
    return Location{display_, static_cast<int>(n.source().begin.line), static_cast<int>(n.source().begin.column)};
  }
  void error(const toml::source_region& where, std::string message, std::string hint = {}) {
    diags_.add(static_cast<int>(where.begin.line), static_cast<int>(where.begin.column), std::move(message), std::move(hint));
  }
  void error(const toml::node& n, std::string message, std::string hint = {}) { error(n.source(), std::move(message), std::move(hint)); }

  void check_keys(const toml::table& t, std::span<const std::string_view> allowed, std::string_view where) {
    for (auto&& [key, value] : t) {
      const std::string_view k = key.str();
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      const std::string guess = suggest(k, allowed);
      std::string msg = where.empty() ? std::string(value.is_table() ? "unknown table '" : "unknown key '") + printable(k) + "'"
                                      : "unknown key '" + printable(k) + "' in " + std::string(where);
      if (!guess.empty()) msg += " (did you mean '" + guess + "'?)";
      error(key.source(), std::move(msg),
            where.empty() ? "the top level has the keys version, name, description and enforcement, and the tables "
                            "[images], [mounts], [egress], [secrets], [resources], [agents] and [docker]"
                          : "the keys of " + std::string(where) + " are: " + join(allowed));
    }
  }

  const toml::table* table(const toml::table& root, std::string_view key, std::span<const std::string_view> keys) {
    const toml::node* n = root.get(key);
    if (!n) return nullptr;
    const auto* t = n->as_table();
    if (!t) {
      error(*n, "'" + std::string(key) + "' must be a table, found " + type_name(n->type()), "write [" + std::string(key) + "] as a section");
      return nullptr;
    }
    check_keys(*t, keys, "[" + std::string(key) + "]");
    return t;
  }

  std::optional<std::string> string(const toml::node& n, std::string_view what, std::string_view example) {
    return config::toml_walk::string_of(diags_, n, what, example, kMaxString);
  }

  const toml::array* array(const toml::node& n, std::string_view what, std::string_view example, size_t max = kMaxList) {
    return config::toml_walk::array_of(diags_, n, what, example, max);
  }

  std::optional<Setting<bool>> boolean(const toml::table& t, std::string_view key) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const auto* b = n->as_boolean();
    if (!b) {
      error(*n, "'" + std::string(key) + "' must be a boolean, found " + type_name(n->type()), "write " + std::string(key) + " = false (no quotes)");
      return std::nullopt;
    }
    return Setting<bool>{b->get(), at(*n)};
  }

  std::optional<Setting<std::uint64_t>> count(const toml::table& t, std::string_view key, std::int64_t min, std::int64_t max) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const auto* i = n->as_integer();
    if (!i) {
      error(*n, "'" + std::string(key) + "' must be an integer, found " + type_name(n->type()), "write e.g. " + std::string(key) + " = 4");
      return std::nullopt;
    }
    if (i->get() < min || i->get() > max) {
      error(*n, std::string(key) + " " + std::to_string(i->get()) + " is out of range",
            std::string(key) + " must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return Setting<std::uint64_t>{static_cast<std::uint64_t>(i->get()), at(*n)};
  }

  std::optional<Setting<std::uint64_t>> size(const toml::table& t, std::string_view key) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (n->is_integer() || n->is_floating_point()) {
      error(*n, "'" + std::string(key) + "' must be a string with a unit, found " + type_name(n->type()),
            "write the unit, e.g. " + std::string(key) + " = \"8GiB\"");
      return std::nullopt;
    }
    auto s = string(*n, "'" + std::string(key) + "'", std::string(key) + " = \"8GiB\"");
    if (!s) return std::nullopt;
    auto bytes = config::parse_size(*s);
    if (!bytes) {
      error(*n, "invalid " + std::string(key) + " '" + printable(*s) + "': " + bytes.error().message, bytes.error().hint);
      return std::nullopt;
    }
    if (*bytes == 0) {
      error(*n, std::string(key) + " must be more than 0", "write a size such as \"8GiB\"");
      return std::nullopt;
    }
    return Setting<std::uint64_t>{*bytes, at(*n)};
  }

  std::vector<PathEntry> paths(const toml::table& t, std::string_view key) {
    std::vector<PathEntry> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    const toml::array* a = array(*n, "'" + std::string(key) + "'", std::string(key) + " = [\"~/.ssh\"]");
    if (!a) return out;
    for (const toml::node& el : *a) {
      auto s = string(el, "each entry of '" + std::string(key) + "'", "\"~/.ssh\"");
      if (!s) continue;
      if (auto ok = check_policy_path(*s); !ok) {
        error(el, "invalid path \"" + printable(*s) + "\": " + ok.error().message, ok.error().hint);
        continue;
      }
      out.push_back({*s, at(el)});
    }
    return out;
  }

  std::vector<PatternEntry> patterns(const toml::node& n, std::string_view key, std::string_view example) {
    std::vector<PatternEntry> out;
    const toml::array* a = array(n, "'" + std::string(key) + "'", example);
    if (!a) return out;
    for (const toml::node& el : *a) {
      auto s = string(el, "each entry of '" + std::string(key) + "'", "\"pattern\"");
      if (!s) continue;
      if (s->empty()) {
        error(el, "an empty pattern matches nothing", "remove it, or write a pattern such as \"github-*\"");
        continue;
      }
      out.push_back({*s, at(el)});
    }
    return out;
  }

  std::optional<config::EgressRule> rule(const toml::node& el, bool with_ports) {
    std::optional<config::EgressRule> r;
    if (const auto* s = el.as_string()) {
      auto text = string(el, "an egress rule", "\"api.github.com\"");
      if (!text) return std::nullopt;
      auto parsed = with_ports ? config::parse_egress_rule(*text) : config::parse_host_pattern(*text);
      if (!parsed) {
        error(el, "invalid egress rule \"" + printable(s->get()) + "\": " + parsed.error().message, parsed.error().hint);
        return std::nullopt;
      }
      r = std::move(*parsed);
      r->text = *text;
      if (!with_ports) r->ports.assign(std::begin(config::kDefaultPorts), std::end(config::kDefaultPorts));
    } else if (const auto* t = el.as_table(); t && with_ports) {
      check_keys(*t, kRuleKeys, "an egress rule");
      const toml::node* host = t->get("host");
      if (!host) {
        error(el, "egress rule is missing 'host'", "write { host = \"api.github.com\", ports = [443] }");
        return std::nullopt;
      }
      auto h = string(*host, "'host'", "host = \"api.github.com\"");
      if (!h) return std::nullopt;
      auto parsed = config::parse_host_pattern(*h);
      if (!parsed) {
        error(*host, "invalid egress host \"" + printable(*h) + "\": " + parsed.error().message, parsed.error().hint);
        return std::nullopt;
      }
      r = std::move(*parsed);
      r->text = *h;
      r->ports.assign(std::begin(config::kDefaultPorts), std::end(config::kDefaultPorts));
      if (const toml::node* ports = t->get("ports")) {
        const toml::array* pa = array(*ports, "'ports'", "ports = [443, 8443]", 1024);
        if (!pa) return std::nullopt;
        if (pa->empty()) {
          error(*ports, "'ports' is empty", "list at least one port, or leave 'ports' out for 80 and 443");
          return std::nullopt;
        }
        std::vector<std::uint16_t> list;
        for (const toml::node& p : *pa) {
          const auto* i = p.as_integer();
          if (!i || i->get() < 1 || i->get() > 65535) {
            error(p, "a port must be an integer from 1 to 65535", "write ports = [443, 8443]");
            return std::nullopt;
          }
          list.push_back(static_cast<std::uint16_t>(i->get()));
        }
        std::sort(list.begin(), list.end());
        list.erase(std::unique(list.begin(), list.end()), list.end());
        r->ports = std::move(list);
      }
    } else {
      error(el, std::string("an egress rule must be a string") + (with_ports ? " or an inline table" : "") + ", found " + type_name(el.type()),
            with_ports ? "write \"api.github.com\", \"*.npmjs.org:443\", or { host = \"api.github.com\", ports = [443] }"
                       : "write a host pattern such as \"api.github.com\" or \"*.example.com\"");
      return std::nullopt;
    }
    r->location = at(el);
    return r;
  }

  std::vector<config::EgressRule> rules(const toml::node& n, std::string_view key, bool with_ports) {
    std::vector<config::EgressRule> out;
    const toml::array* a = array(n, "'" + std::string(key) + "'", std::string(key) + " = [\"api.github.com\"]");
    if (!a) return out;
    for (const toml::node& el : *a)
      if (auto r = rule(el, with_ports)) out.push_back(std::move(*r));
    return out;
  }

  void read_root(const toml::table& root, Policy& out) {
    check_keys(root, kTopKeys, "");
    read_version(root, out);
    if (const toml::node* n = root.get("name")) {
      if (auto s = string(*n, "'name'", "name = \"acme-strict\"")) {
        if (!config::valid_name(*s))
          error(*n, "invalid policy name '" + printable(*s) + "'",
                "names are 1-63 lower-case letters, digits and '-', e.g. \"" + config::sanitise_name(*s) + "\"");
        else out.name = *s;
      }
    }
    if (const toml::node* n = root.get("description"))
      if (auto s = string(*n, "'description'", "description = \"what this policy is for\"")) out.description = *s;
    if (const toml::node* n = root.get("enforcement")) {
      if (auto s = string(*n, "'enforcement'", "enforcement = \"enforce\"")) {
        if (*s == "warn") out.enforcement = Enforcement::warn;
        else if (*s != "enforce")
          error(*n, "invalid enforcement '" + printable(*s) + "'",
                "write enforcement = \"enforce\" (a violation stops sbx up, the default) or \"warn\" (it is printed)");
      }
    }
    if (const toml::table* t = table(root, "images", kImageKeys)) read_images(*t, out.images);
    if (const toml::table* t = table(root, "mounts", kMountKeys)) read_mounts(*t, out.mounts);
    if (const toml::table* t = table(root, "egress", kEgressKeys)) read_egress(*t, out.egress);
    if (const toml::table* t = table(root, "secrets", kSecretKeys)) read_secrets(*t, out.secrets);
    if (const toml::table* t = table(root, "resources", kResourceKeys)) read_resources(*t, out.resources);
    if (const toml::table* t = table(root, "agents", kAgentKeys)) read_agents(*t, out.agents);
    if (const toml::table* t = table(root, "docker", kDockerKeys)) out.docker.allow = boolean(*t, "allow");
  }

  void read_version(const toml::table& root, Policy& out) {
    const toml::node* n = root.get("version");
    if (!n) {
      diags_.add(1, 1, "missing 'version'", "add 'version = 1' as the first line of the policy");
      return;
    }
    const auto* i = n->as_integer();
    if (!i) {
      error(*n, "'version' must be an integer, found " + type_name(n->type()), "write 'version = 1'");
    } else if (i->get() > kLatestVersion) {
      error(*n, "policy version " + std::to_string(i->get()) + " is newer than this sbx reads (version " +
                    std::to_string(kLatestVersion) + ")",
            "upgrade sbx: a policy it cannot read is never half applied");
    } else if (i->get() < 1) {
      error(*n, "invalid version " + std::to_string(i->get()), "write 'version = 1'");
    } else {
      out.version = static_cast<int>(i->get());
    }
  }

  void read_images(const toml::table& t, ImageRules& r) {
    if (const toml::node* n = t.get("allow"))
      r.allow = Setting<std::vector<PatternEntry>>{patterns(*n, "allow", "allow = [\"registry.example.com/team/**\"]"), at(*n)};
    r.require_digest = boolean(t, "require_digest");
  }

  void read_mounts(const toml::table& t, MountRules& r) {
    r.deny = paths(t, "deny");
    r.deny_itself = paths(t, "deny_itself");
    r.read_only = paths(t, "read_only");
    r.max = count(t, "max", 0, 64);
    r.allow_rw = boolean(t, "allow_rw");
    // Relative to each read-write mount's source, as the Sandboxfile's `protect`.
    if (const toml::node* n = t.get("protect"))
      for (auto& e : patterns(*n, "protect", "protect = [\"scripts/deploy.sh\"]")) {
        bool ok = !e.pattern.starts_with('/');
        for (std::string_view part : text::split(e.pattern, '/')) ok = ok && !part.empty() && part != "." && part != "..";
        if (!ok) {
          error(*n, "invalid protected path \"" + printable(e.pattern) + "\"",
                "write paths relative to a mount's source, without '.' or '..' parts, e.g. \"scripts/deploy.sh\"");
          continue;
        }
        r.protect.push_back(std::move(e));
      }
  }

  void read_egress(const toml::table& t, EgressRules& r) {
    if (const toml::node* n = t.get("deny")) r.deny = rules(*n, "deny", true);
    if (const toml::node* n = t.get("ceiling")) r.ceiling = Setting<std::vector<config::EgressRule>>{rules(*n, "ceiling", true), at(*n)};
    r.allow_ip_literals = boolean(t, "allow_ip_literals");
    r.allow_cidrs = boolean(t, "allow_cidrs");
    r.allow_private_ranges = boolean(t, "allow_private_ranges");
    r.allow_learn = boolean(t, "allow_learn");
  }

  void read_secrets(const toml::table& t, SecretRules& r) {
    if (const toml::node* n = t.get("deny")) r.deny = patterns(*n, "deny", "deny = [\"deploy-*\"]");
    r.allow_env = boolean(t, "allow_env");
    const toml::node* n = t.get("allow");
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a || !a->is_array_of_tables()) {
      error(*n, "'allow' in [secrets] must be an array of tables, found " + type_name(n->type()),
            "write each grant as its own [[secrets.allow]] section with names and hosts");
      return;
    }
    if (a->size() > kMaxGrants) {
      error(*n, "too many [[secrets.allow]] grants (" + std::to_string(a->size()) + "); at most " + std::to_string(kMaxGrants));
      return;
    }
    Setting<std::vector<SecretGrant>> grants{{}, at(*n)};
    for (const toml::node& el : *a) {
      const toml::table& g = *el.as_table();
      check_keys(g, kGrantKeys, "[[secrets.allow]]");
      SecretGrant grant;
      grant.where = at(g);
      if (const toml::node* names = g.get("names")) grant.names = patterns(*names, "names", "names = [\"github-*\"]");
      else error(g, "[[secrets.allow]] is missing 'names'", "list the secret names it grants, e.g. names = [\"github-token\"]");
      if (const toml::node* hosts = g.get("hosts")) grant.hosts = rules(*hosts, "hosts", false);
      if (const toml::node* inject = g.get("inject")) {
        grant.header = false;
        if (const toml::array* list = array(*inject, "'inject'", "inject = [\"header\"]", 2)) {
          for (const toml::node& i : *list) {
            auto s = string(i, "each entry of 'inject'", "\"header\"");
            if (!s) continue;
            if (*s == "header") grant.header = true;
            else if (*s == "env") grant.env = true;
            else error(i, "invalid inject mode '" + printable(*s) + "'", "write \"header\" or \"env\"");
          }
        }
      }
      if (grant.header && !g.get("hosts"))
        error(g, "[[secrets.allow]] grants header injection but lists no 'hosts'",
              "list the hosts the secrets may be sent to, e.g. hosts = [\"api.github.com\"], or write inject = [\"env\"]");
      grants.value.push_back(std::move(grant));
    }
    r.allow = std::move(grants);
  }

  void read_resources(const toml::table& t, ResourceRules& r) {
    if (auto c = count(t, "max_cpus", 1, 256)) r.max_cpus = Setting<unsigned>{static_cast<unsigned>(c->value), c->where};
    r.max_memory = size(t, "max_memory");
    r.max_disk = size(t, "max_disk");
  }

  void read_agents(const toml::table& t, AgentRules& r) {
    const toml::node* n = t.get("allow");
    if (!n) return;
    const toml::array* a = array(*n, "'allow'", "allow = [\"shell\", \"claude-code\"]");
    if (!a) return;
    Setting<std::vector<std::string>> allow{{}, at(*n)};
    for (const toml::node& el : *a) {
      auto s = string(el, "each entry of 'allow'", "\"claude-code\"");
      if (!s) continue;
      // The shipped presets (config/presets/*.toml) plus "custom": a command without a preset.
      std::vector<std::string_view> names = config::preset_names();
      names.push_back(config::kCustomPreset);
      if (std::find(names.begin(), names.end(), *s) == names.end()) {
        std::string msg = "unknown agent preset '" + printable(*s) + "'";
        if (std::string g = suggest(*s, names); !g.empty()) msg += " (did you mean '" + g + "'?)";
        error(el, std::move(msg), "the presets are: " + join(names) + " (custom: a Sandboxfile command without a preset)");
        continue;
      }
      allow.value.push_back(*s);
    }
    r.allow = std::move(allow);
  }

  std::string_view text_;
  std::string display_;
  config::Diagnostics diags_;
};

std::string stem_name(const std::string& display) {
  std::string base = fs::path(display).filename().string();
  if (base.ends_with(".toml")) base.resize(base.size() - 5);
  return config::sanitise_name(base);
}

}  // namespace

std::string_view to_string(Enforcement e) { return e == Enforcement::enforce ? "enforce" : "warn"; }

std::string_view to_string(Origin o) {
  switch (o) {
    case Origin::baseline: return "baseline";
    case Origin::system: return "system";
    case Origin::user: return "user";
    case Origin::env: return "SBX_POLICY_PATH";
  }
  return "?";
}

Result<Policy> load_policy_string(std::string_view text, std::string_view display_name, Origin origin) {
  if (text.size() > kMaxFileBytes)
    return fail(ErrorCode::invalid, std::string(display_name) + " is larger than 1 MiB", "a policy is a short text file; check the path");
  auto p = SBX_TRY(Loader(text, std::string(display_name)).load(origin));
  if (p.name.empty()) p.name = stem_name(std::string(display_name));
  return p;
}

Result<std::string> read_policy_text(const fs::path& path) {
  const std::string display = path.lexically_normal().string();
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return fail(ErrorCode::not_found, display + ": no such policy file", "check the path");
  if (!fs::is_regular_file(status)) return fail(ErrorCode::invalid, display + " is not a regular file", "a policy is one .toml file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::io, "cannot open " + display, "check its permissions");
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) return fail(ErrorCode::invalid, display + " is larger than 1 MiB", "a policy is a short text file; check the path");
  return text;
}

Result<Policy> load_policy_file(const fs::path& path, Origin origin) {
  const std::string text = SBX_TRY(read_policy_text(path));
  auto p = SBX_TRY(load_policy_string(text, path.lexically_normal().string(), origin));
  std::error_code ec;
  p.file = fs::absolute(path, ec).lexically_normal();
  return p;
}

}  // namespace sbx::policy
