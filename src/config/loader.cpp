// The Sandboxfile's toml++ walk: parse, then walk the document checking every key, collecting
// every problem as a Diagnostic (file:line:col, source line, hint), and fail once.
// Why it is past 500 lines: every section's TOML walk needs toml++, and toml++ is compiled only
// into the files that parse TOML (the slow header, and its UB patch in config/toml.h; preset.cpp
// and policy/loader.cpp are the others). What needs no toml++ lives beside it: diagnostics.h (the collector),
// names.h, mount_rules.h, secret_rules.h, units.h, egress_rule.h, image_ref.h, host_path.h (the
// rules), defaults.h (the defaults), preset.h (what a preset gives; apply_preset applies it).
#include "config/loader.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <sstream>

#include "config/toml.h"  // toml++ with its Unicode-table UB patched (see there)
#include "config/toml_walk.h"

#include "common/text.h"
#include "config/defaults.h"
#include "config/diagnostics.h"
#include "config/egress_rule.h"
#include "config/host_path.h"
#include "config/image_ref.h"
#include "config/mount_rules.h"
#include "config/names.h"
#include "config/preset.h"
#include "config/port_rules.h"
#include "config/secret_rules.h"
#include "config/units.h"
#include "guest/protocol/user.h"

namespace sbx::config {

namespace {

namespace fs = std::filesystem;
using namespace std::string_view_literals;
using toml_walk::join;
using toml_walk::suggest;
using toml_walk::type_name;

// Bounds on hostile input: a Sandboxfile is small; anything past these is a mistake or an attack.
constexpr std::uintmax_t kMaxFileBytes = 1 << 20;
constexpr size_t kMaxMounts = 64;
constexpr size_t kMaxPorts = 64;
constexpr size_t kMaxRules = 4096;
constexpr size_t kMaxSecrets = 64;
constexpr size_t kMaxSecretHosts = 16;
constexpr size_t kMaxEnv = 256;
constexpr size_t kMaxArgs = 256;
constexpr size_t kMaxString = 4096;

constexpr std::string_view kTopKeys[] = {"version", "name", "agent", "image", "resources", "mount", "port", "egress", "secret", "protect", "docker"};
constexpr std::string_view kAgentKeys[] = {"preset", "command", "args", "env", "workdir", "user", "version", "headless"};
constexpr std::string_view kImageKeys[] = {"ref", "digest"};
constexpr std::string_view kResourceKeys[] = {"cpus", "memory", "disk"};
constexpr std::string_view kMountKeys[] = {"source", "target", "mode", "cache", "local"};
constexpr std::string_view kPortKeys[] = {"guest", "host"};
constexpr std::string_view kEgressKeys[] = {"mode", "allow", "deny", "trust_host_ca"};
constexpr std::string_view kRuleKeys[] = {"host", "ports"};
constexpr std::string_view kDockerKeys[] = {"enabled", "insecure_registries"};
constexpr std::string_view kSecretKeys[] = {"name", "inject", "hosts", "header", "template", "env"};

std::string lower(std::string_view s) { return normalise_host(s); }

class Loader {
 public:
  Loader(std::string_view text, std::string display, fs::path file, fs::path project_dir)
      : text_(text), display_(display), file_(std::move(file)), project_dir_(std::move(project_dir)),
        diags_(text, std::move(display)) {}

  Result<Sandboxfile> load() {
    Sandboxfile out;
    out.file = file_;
    out.project_dir = project_dir_;
    try {
      const toml::table root = toml::parse(text_, std::string_view(display_));
      read_root(root, out);
    } catch (const toml::parse_error& e) {
      const auto& b = e.source().begin;
      add(static_cast<int>(b.line), static_cast<int>(b.column), "invalid TOML: " + printable(e.description(), 200),
          "see https://toml.io for the syntax; strings need quotes, tables are written [name]");
    }
    SBX_TRY_VOID(diags_.finish());
    return out;
  }

 private:
  // ---- diagnostics ----
  void add(int line, int column, std::string message, std::string hint = {}) {
    diags_.add(line, column, std::move(message), std::move(hint));
  }
  void error(const toml::source_region& where, std::string message, std::string hint = {}) {
    add(static_cast<int>(where.begin.line), static_cast<int>(where.begin.column), std::move(message), std::move(hint));
  }
  void error(const toml::node& where, std::string message, std::string hint = {}) {
    error(where.source(), std::move(message), std::move(hint));
  }
  int line_of(const toml::node& n) const { return static_cast<int>(n.source().begin.line); }

  // ---- typed access: each reports a wrong type and returns nullopt ----
  std::optional<std::string> as_string(const toml::node& n, std::string_view what, std::string_view example) {
    return toml_walk::string_of(diags_, n, what, example, kMaxString);
  }

  const toml::array* as_array(const toml::node& n, std::string_view what, std::string_view example, size_t max) {
    return toml_walk::array_of(diags_, n, what, example, max);
  }

  const toml::table* as_table(const toml::node& n, std::string_view what, std::string_view example) {
    const auto* t = n.as_table();
    if (!t) error(n, std::string(what) + " must be a table, found " + type_name(n.type()), "write " + std::string(example));
    return t;
  }

  std::optional<std::vector<std::string>> string_list(const toml::node& n, std::string_view what, std::string_view example, size_t max) {
    const toml::array* a = as_array(n, what, example, max);
    if (!a) return std::nullopt;
    std::vector<std::string> out;
    bool ok = true;
    for (const toml::node& el : *a) {
      auto s = as_string(el, std::string("each entry of ") + std::string(what), "\"text\"");
      if (s) out.push_back(std::move(*s));
      else ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // Report every key of `t` not in `allowed`, with a suggestion.
  void check_keys(const toml::table& t, std::span<const std::string_view> allowed, std::string_view where) {
    for (auto&& [key, value] : t) {
      const std::string_view k = key.str();
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      const std::string guess = suggest(k, allowed);
      std::string msg;
      const bool is_table = value.is_table() || value.is_array_of_tables();
      if (where.empty()) msg = std::string(is_table ? "unknown table '" : "unknown key '") + printable(k) + "'";
      else msg = "unknown key '" + printable(k) + "' in " + std::string(where);
      if (!guess.empty()) msg += " (did you mean '" + guess + "'?)";
      std::string hint = where.empty()
                             ? "the top level has the keys version and name, and the tables [agent], [image], [resources], [[mount]], [[port]], [egress], [[secret]] and [docker]"
                             : std::string("the keys of ") + std::string(where) + " are: " + join(allowed);
      error(key.source(), std::move(msg), std::move(hint));
    }
  }

  // ---- sections ----
  void read_root(const toml::table& root, Sandboxfile& out) {
    check_keys(root, kTopKeys, "");
    read_version(root, out);
    read_name(root, out);
    read_protect(root, out);
    if (const toml::node* n = root.get("agent")) {
      if (const toml::table* t = as_table(*n, "[agent]", "[agent] as a table")) read_agent(*t, out.agent);
    } else {
      read_agent(toml::table{}, out.agent);
    }
    if (const toml::node* n = root.get("image")) {
      if (const toml::table* t = as_table(*n, "[image]", "[image] as a table")) read_image(*t, out.image);
    } else {
      out.image = *parse_image_ref("builtin", project_dir_);
    }
    if (const toml::node* n = root.get("resources")) {
      if (const toml::table* t = as_table(*n, "[resources]", "[resources] as a table")) read_resources(*t, out.resources);
    } else {
      read_resources(toml::table{}, out.resources);
    }
    if (const toml::node* n = root.get("mount")) read_mounts(*n, out.mounts);
    if (const toml::node* n = root.get("port")) read_ports(*n, out.ports);
    if (const toml::node* n = root.get("egress")) {
      if (const toml::table* t = as_table(*n, "[egress]", "[egress] as a table")) read_egress(*t, out.egress);
    }
    if (const toml::node* n = root.get("secret")) read_secrets(*n, out);
    if (const toml::node* n = root.get("docker")) {
      if (const toml::table* t = as_table(*n, "[docker]", "[docker] as a table")) read_docker(*t, root, out);
    }
    apply_preset(root, out);
  }

  // What the preset gives where the file is silent, per key (SPEC.md, "Presets"): the file's
  // own command, env variable, [image], cpus, memory, allow list or [[secret]] always wins.
  void apply_preset(const toml::table& root, Sandboxfile& out) {
    const Preset* p = find_preset(out.agent.preset);
    if (!p) return;
    const toml::node* agent_node = root.get("agent");
    const toml::table* agent = agent_node ? agent_node->as_table() : nullptr;
    if (!agent || !agent->get("command")) out.from_preset.push_back("agent.command");
    std::set<std::string> env_secret_vars;
    for (const Secret& s : out.secrets)
      if (s.inject == InjectKind::env) env_secret_vars.insert(s.env_var);
    for (const auto& [k, v] : p->env) {
      if (out.agent.env.contains(k) || env_secret_vars.contains(k)) continue;
      out.agent.env[k] = v;
      out.from_preset.push_back("agent.env." + k);
    }
    if (!root.get("image") && p->dev_image) {
      out.image = *parse_image_ref("dev", project_dir_);
      out.image.location = Location{p->display, 1, 1};
      out.from_preset.push_back("image");
    }
    const toml::node* res_node = root.get("resources");
    const toml::table* res = res_node ? res_node->as_table() : nullptr;
    if (p->cpus && (!res || !res->get("cpus"))) {
      out.resources.cpus = *p->cpus;
      out.from_preset.push_back("resources.cpus");
    }
    if (p->memory_bytes && (!res || !res->get("memory"))) {
      out.resources.memory_bytes = *p->memory_bytes;
      out.from_preset.push_back("resources.memory");
    }
    const toml::node* egress_node = root.get("egress");
    const toml::table* egress = egress_node ? egress_node->as_table() : nullptr;
    if (!p->allow.empty() && (!egress || !egress->get("allow"))) {
      out.egress.allow.insert(out.egress.allow.end(), p->allow.begin(), p->allow.end());
      out.from_preset.push_back("egress.allow");
    }
    // The binding only where the file writes no [[secret]], and only to hosts the final rules
    // allow: a file that narrowed [egress] gets no header for a host it no longer reaches.
    if (p->secret && !root.get("secret")) {
      const HostMatcher allowed(out.egress.allow), denied(out.egress.deny);
      const bool reachable = std::all_of(p->secret->hosts.begin(), p->secret->hosts.end(),
                                         [&](const std::string& h) { return check_secret_host(h, allowed, denied).has_value(); });
      if (reachable) {
        out.secrets.push_back(*p->secret);
        out.from_preset.push_back("secret." + p->secret->name);
      }
    }
    if (p->package && out.image.kind == ImageKind::dev) {
      out.agent.package = p->package;
      if (version_override_) out.agent.package->version = *version_override_;
      else out.from_preset.push_back("agent.version");
      out.from_preset.push_back("agent.package");
    } else if (version_override_ && agent && agent->get("version")) {
      error(*agent->get("version"), "'version' applies only to the dev image, which installs the agent's package",
            "remove 'version', or [image] (the preset's dev image is used when [image] is absent)");
    }
  }

  void read_version(const toml::table& root, Sandboxfile& out) {
    const toml::node* n = root.get("version");
    if (!n) {
      add(1, 1, "missing 'version'", "add 'version = 1' as the first line of the file");
      return;
    }
    const auto* i = n->as_integer();
    if (!i) {
      error(*n, "'version' must be an integer, found " + type_name(n->type()), "write 'version = 1'");
      return;
    }
    const std::int64_t v = i->get();
    if (v > kLatestVersion) {
      error(*n, "Sandboxfile version " + std::to_string(v) + " is newer than this sbx reads (version " +
                    std::to_string(kLatestVersion) + ")",
            "upgrade sbx, or write the file for version 1");
      return;
    }
    if (v < 1) {
      error(*n, "invalid version " + std::to_string(v), "write 'version = 1'");
      return;
    }
    out.version = static_cast<int>(v);
  }

  void read_name(const toml::table& root, Sandboxfile& out) {
    out.name = sanitise_name(project_dir_.filename().string());
    const toml::node* n = root.get("name");
    if (!n) return;
    auto s = as_string(*n, "'name'", "name = \"my-project\"");
    if (!s) return;
    if (!valid_name(*s)) {
      error(*n, "invalid sandbox name '" + printable(*s) + "'",
            "names are 1-63 lower-case letters, digits and '-', not starting or ending with '-', e.g. \"" + sanitise_name(*s) + "\"");
      return;
    }
    out.name = *s;
  }

  // `protect = [".env.sh", "scripts/deploy"]`: relative paths every read-write mount keeps
  // read-only in the guest, besides the default list (SPEC.md "Protected paths").
  void read_protect(const toml::table& root, Sandboxfile& out) {
    const toml::node* n = root.get("protect");
    if (!n) return;
    auto list = string_list(*n, "'protect'", "protect = [\"scripts/deploy.sh\"]", 64);
    if (!list) return;
    for (std::string p : *list) {
      while (p.size() > 1 && p.back() == '/') p.pop_back();
      bool ok = !p.empty() && p.front() != '/' && p.size() <= 1024;
      for (std::string_view part : text::split(p, '/'))
        ok = ok && !part.empty() && part != "." && part != ".." && part.size() <= 255 && part.find('\0') == std::string_view::npos;
      if (!ok) {
        error(*n, "invalid protected path '" + printable(p) + "'",
              "write paths relative to a mount's source, without '.' or '..' parts, e.g. \"scripts/deploy.sh\"");
        continue;
      }
      out.protect.push_back(std::move(p));
    }
    std::sort(out.protect.begin(), out.protect.end());
    out.protect.erase(std::unique(out.protect.begin(), out.protect.end()), out.protect.end());
  }

  void read_agent(const toml::table& t, Agent& agent) {
    check_keys(t, kAgentKeys, "[agent]");
    agent.location = Location{display_, static_cast<int>(t.source().begin.line), static_cast<int>(t.source().begin.column)};
    const toml::node* preset_node = t.get("preset");
    const toml::node* command_node = t.get("command");
    agent.preset = command_node && !preset_node ? kCustomPreset : "shell";
    if (preset_node) {
      if (auto s = as_string(*preset_node, "'preset'", "preset = \"shell\"")) {
        if (find_preset(*s)) {
          agent.preset = *s;
        } else {
          const auto names = preset_names();
          std::string msg = "unknown agent preset '" + printable(*s) + "'";
          if (std::string g = suggest(*s, names); !g.empty()) msg += " (did you mean '" + g + "'?)";
          error(*preset_node, std::move(msg), "the presets are: " + join(names) + "; or leave preset out and set 'command'");
        }
      }
    }
    if (const Preset* p = find_preset(agent.preset)) {
      agent.command = p->command;
      agent.headless = p->headless;
    }
    if (const toml::node* n = t.get("headless")) {
      if (auto h = string_list(*n, "'headless'", "headless = [\"claude\", \"-p\"]", kMaxArgs)) agent.headless = std::move(*h);
    }
    if (const toml::node* n = t.get("version")) {
      if (auto v = as_string(*n, "'version'", "version = \"2.1.0\"")) {
        const Preset* p = find_preset(agent.preset);
        if (!p || !p->package)
          error(*n, "'version' applies only to a preset with an npm package", "the presets with one are the agents' (e.g. preset = \"claude-code\"); remove 'version'");
        else if (!is_npm_version_spec(*v))
          error(*n, "invalid version '" + printable(*v) + "'", "write an npm version (\"2.1.332\"), a dist-tag (\"latest\") or a range (\"^2.1\")");
        else
          version_override_ = *v;
      }
    }
    agent.command_given = preset_node || command_node || t.get("args");
    if (command_node) {
      if (auto cmd = string_list(*command_node, "'command'", "command = [\"/bin/sh\", \"-c\", \"make test\"]", kMaxArgs)) {
        if (cmd->empty()) error(*command_node, "'command' is empty", "name the program to run, e.g. command = [\"/bin/sh\"]");
        else if (cmd->front().empty()) error(*command_node, "the program name in 'command' is empty", "write the program first, e.g. [\"/bin/sh\", \"-c\", \"...\"]");
        else agent.command = std::move(*cmd);
      }
    }
    if (const toml::node* n = t.get("args")) {
      if (auto args = string_list(*n, "'args'", "args = [\"--verbose\"]", kMaxArgs))
        agent.command.insert(agent.command.end(), args->begin(), args->end());
    }
    if (const toml::node* n = t.get("env")) {
      if (const toml::table* env = as_table(*n, "'env'", "env = { NAME = \"value\" }")) {
        if (env->size() > kMaxEnv) error(*n, "'env' has more than " + std::to_string(kMaxEnv) + " variables");
        for (auto&& [key, value] : *env) {
          const std::string k(key.str());
          if (!is_env_name(k)) {
            error(key.source(), "invalid environment variable name '" + printable(k) + "'",
                  "names are letters, digits and '_', not starting with a digit");
            continue;
          }
          if (is_reserved_env_name(k)) {
            error(key.source(), "'" + k + "' is set by sbx and cannot be overridden",
                  "sbx points the proxy variables at its egress proxy; name your variable differently");
            continue;
          }
          if (auto v = as_string(value, "the value of '" + k + "'", "\"value\"")) agent.env[k] = std::move(*v);
        }
      }
    }
    agent.workdir = std::string(kDefaultWorkdir);
    if (const toml::node* n = t.get("workdir")) {
      agent.workdir_given = true;
      if (auto s = as_string(*n, "'workdir'", "workdir = \"/workspace\"")) {
        if (auto p = normalise_guest_path(*s)) agent.workdir = *p;
        else error(*n, p.error().message, p.error().hint);
      }
    }
    agent.user = std::string(kDefaultUser);
    if (const toml::node* n = t.get("user")) {
      agent.user_given = true;
      if (auto s = as_string(*n, "'user'", "user = \"agent\"")) {
        if (guest::protocol::valid_user_spec(*s)) agent.user = *s;
        else error(*n, "invalid user name '" + printable(*s) + "'",
                   "write a user name (up to 32 lower-case letters, digits, '_', '-' and '.', starting with a letter or '_'), "
                   "a uid, or name:group or uid:gid");
      }
    }
  }

  void read_image(const toml::table& t, Image& image) {
    check_keys(t, kImageKeys, "[image]");
    image = *parse_image_ref("builtin", project_dir_);
    image.location = Location{display_, static_cast<int>(t.source().begin.line), static_cast<int>(t.source().begin.column)};
    if (const toml::node* n = t.get("ref")) {
      if (auto s = as_string(*n, "'ref'", "ref = \"builtin\"")) {
        if (auto parsed = parse_image_ref(*s, project_dir_)) {
          const Location keep = image.location;
          image = std::move(*parsed);
          image.location = keep;
        } else {
          error(*n, parsed.error().message, parsed.error().hint);
        }
      }
    }
    if (const toml::node* n = t.get("digest")) {
      auto s = as_string(*n, "'digest'", "digest = \"sha256:...\"");
      if (!s) return;
      auto d = parse_digest(*s);
      if (!d) {
        error(*n, d.error().message, d.error().hint);
      } else if (image.kind == ImageKind::builtin || image.kind == ImageKind::rootfs_dir || image.kind == ImageKind::saved) {
        error(*n, std::string("a digest pin does not apply to a ") +
                      (image.kind == ImageKind::builtin ? "built-in image"
                       : image.kind == ImageKind::saved ? "saved image"
                                                        : "rootfs directory"),
              "digests pin image archives (.tar, .tar.gz, .tgz) and registry references; remove 'digest'");
      } else if (image.digest && *image.digest != *d) {
        error(*n, "'digest' differs from the digest in 'ref'", "keep one of them");
      } else {
        image.digest = *d;
      }
    }
  }

  std::uint64_t read_size(const toml::table& t, std::string_view key, std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
    const toml::node* n = t.get(key);
    if (!n) return fallback;
    const std::string what = "'" + std::string(key) + "'";
    if (n->is_integer() || n->is_floating_point()) {
      error(*n, what + " must be a string with a unit, found " + type_name(n->type()),
            "write the unit, e.g. " + std::string(key) + " = \"512MiB\" or \"2GiB\"");
      return fallback;
    }
    auto s = as_string(*n, what, std::string(key) + " = \"2GiB\"");
    if (!s) return fallback;
    auto bytes = parse_size(*s);
    if (!bytes) {
      error(*n, "invalid " + std::string(key) + " '" + printable(*s) + "': " + bytes.error().message, bytes.error().hint);
      return fallback;
    }
    if (*bytes < min || *bytes > max) {
      error(*n, std::string(key) + " " + printable(*s) + " is out of range",
            std::string(key) + " must be between " + format_size(min) + " and " + format_size(max));
      return fallback;
    }
    return *bytes;
  }

  void read_resources(const toml::table& t, Resources& r) {
    check_keys(t, kResourceKeys, "[resources]");
    if (t.source().begin.line > 0) r.location = Location{display_, static_cast<int>(t.source().begin.line), static_cast<int>(t.source().begin.column)};
    r.cpus = kDefaultCpus;
    if (const toml::node* n = t.get("cpus")) {
      if (const auto* i = n->as_integer()) {
        if (i->get() < kMinCpus || i->get() > kMaxCpus)
          error(*n, "cpus " + std::to_string(i->get()) + " is out of range",
                "cpus must be between " + std::to_string(kMinCpus) + " and " + std::to_string(kMaxCpus));
        else r.cpus = static_cast<unsigned>(i->get());
      } else {
        error(*n, "'cpus' must be an integer, found " + type_name(n->type()), "write e.g. cpus = 2");
      }
    }
    r.memory_bytes = read_size(t, "memory", kDefaultMemoryBytes, kMinMemoryBytes, kMaxMemoryBytes);
    r.disk_bytes = read_size(t, "disk", kDefaultDiskBytes, kMinDiskBytes, kMaxDiskBytes);
  }

  void read_mounts(const toml::node& n, std::vector<Mount>& mounts) {
    const toml::array* a = n.as_array();
    if (!a || !a->is_array_of_tables()) {
      error(n, "'mount' must be an array of tables, found " + type_name(n.type()),
            "write each mount as its own [[mount]] section with source and target");
      return;
    }
    if (a->size() > kMaxMounts) {
      error(n, "too many mounts (" + std::to_string(a->size()) + "); at most " + std::to_string(kMaxMounts) + " are allowed");
      return;
    }
    std::map<std::string, int> targets;  // target -> line, for duplicates
    for (const toml::node& el : *a) {
      const toml::table& t = *el.as_table();
      check_keys(t, kMountKeys, "[[mount]]");
      Mount m;
      m.location = Location{display_, static_cast<int>(t.source().begin.line), static_cast<int>(t.source().begin.column)};
      bool ok = true;
      const toml::node* src = t.get("source");
      const toml::node* dst = t.get("target");
      if (!src) {
        error(t, "[[mount]] is missing 'source'", "add the host directory, e.g. source = \".\" (relative to the Sandboxfile)");
        ok = false;
      } else if (auto s = as_string(*src, "'source'", "source = \".\"")) {
        if (auto p = resolve_host_path(*s, project_dir_)) m.source = *p;
        else { error(*src, p.error().message, p.error().hint); ok = false; }
      } else {
        ok = false;
      }
      if (!dst) {
        error(t, "[[mount]] is missing 'target'", "add the path inside the VM, e.g. target = \"/workspace\"");
        ok = false;
      } else if (auto s = as_string(*dst, "'target'", "target = \"/workspace\"")) {
        if (auto p = normalise_guest_path(*s)) {
          m.target = *p;
          if (auto rule = check_mount_target(m.target); !rule) {
            error(*dst, rule.error().message, rule.error().hint);
            ok = false;
          }
          if (ok) {
            if (auto [it, inserted] = targets.emplace(m.target, line_of(*dst)); !inserted) {
              error(*dst, "target '" + m.target + "' is already mounted at line " + std::to_string(it->second),
                    "each target may be mounted once; remove one of them");
              ok = false;
            }
          }
        } else {
          error(*dst, p.error().message, p.error().hint);
          ok = false;
        }
      } else {
        ok = false;
      }
      if (const toml::node* mode = t.get("mode")) {
        if (auto s = as_string(*mode, "'mode'", "mode = \"rw\"")) {
          if (*s == "rw") m.writable = true;
          else if (*s != "ro") {
            error(*mode, "invalid mount mode '" + printable(*s) + "'", "write mode = \"ro\" (read-only, the default) or mode = \"rw\"");
            ok = false;
          }
        } else {
          ok = false;
        }
      }
      if (const toml::node* cache = t.get("cache")) {
        if (auto s = as_string(*cache, "'cache'", "cache = \"auto\"")) {
          if (auto c = mount_cache_from_string(*s)) {
            m.cache = *c;
          } else {
            error(*cache, "invalid mount cache '" + printable(*s) + "'",
                  "write cache = \"auto\" (host changes seen within 1 s, the default) or cache = \"always\" (faster; only "
                  "for directories nothing on the host changes while the sandbox runs)");
            ok = false;
          }
        } else {
          ok = false;
        }
      }
      if (const toml::node* local = t.get("local")) ok = read_local(*local, m) && ok;
      if (ok) mounts.push_back(std::move(m));
    }
    check_local_overlaps(mounts);
  }

  // A mount's `local` list: each entry checked (config/mount_rules.h), none twice, none inside another.
  bool read_local(const toml::node& n, Mount& m) {
    const toml::array* a = as_array(n, "'local'", "local = [\"node_modules\", \".venv\"]", kMaxLocalPaths);
    if (!a) return false;
    bool ok = true;
    for (const toml::node& el : *a) {
      auto s = as_string(el, "each entry of 'local'", "\"node_modules\"");
      if (!s) { ok = false; continue; }
      if (auto r = check_local_path(*s); !r) {
        error(el, r.error().message, r.error().hint);
        ok = false;
        continue;
      }
      bool fits = true;
      for (const std::string& other : m.local) {
        if (fits && (*s == other || guest_path_under(*s, other) || guest_path_under(other, *s))) {
          error(el, "the 'local' path '" + printable(*s) + "' overlaps '" + printable(other) + "'",
                "list each directory once, and not one inside another");
          fits = ok = false;
        }
      }
      if (fits) m.local.push_back(std::move(*s));
    }
    return ok;
  }

  // Another mount's target at, above or below a local path would hide it or be hidden by it.
  void check_local_overlaps(const std::vector<Mount>& mounts) {
    for (const Mount& m : mounts)
      for (const std::string& l : m.local) {
        const std::string path = m.target + "/" + l;
        for (const Mount& o : mounts)
          if (&o != &m && (guest_path_under(o.target, path) || (guest_path_under(path, o.target) && !guest_path_under(m.target, o.target))))
            add(o.location.line, o.location.column,
                "target '" + o.target + "' overlaps the local path '" + l + "' of the mount at line " + std::to_string(m.location.line),
                "a local directory is on the sandbox disk: mount nothing at, above or below it, or drop it from 'local'");
      }
  }

  // A port number 1..65535 or nullopt (reported).
  std::optional<std::uint16_t> read_port_number(const toml::node& n, std::string_view what) {
    const auto* i = n.as_integer();
    if (!i || i->get() < 1 || i->get() > 65535) {
      error(n, std::string(what) + " must be a port number from 1 to 65535" + (i ? "" : ", found " + type_name(n.type())),
            "write e.g. " + std::string(what) + " = 3000");
      return std::nullopt;
    }
    return static_cast<std::uint16_t>(i->get());
  }

  void read_ports(const toml::node& n, std::vector<Port>& ports) {
    const toml::array* a = n.as_array();
    if (!a || !a->is_array_of_tables()) {
      error(n, "'port' must be an array of tables, found " + type_name(n.type()),
            "write each forwarded port as its own [[port]] section with guest (and host)");
      return;
    }
    if (a->size() > kMaxPorts) {
      error(n, "too many ports (" + std::to_string(a->size()) + "); at most " + std::to_string(kMaxPorts) + " are allowed");
      return;
    }
    std::map<std::uint16_t, int> host_ports;  // host port -> line: one listener per port, whatever the address
    for (const toml::node& el : *a) {
      const toml::table& t = *el.as_table();
      check_keys(t, kPortKeys, "[[port]]");
      Port p;
      p.location = Location{display_, static_cast<int>(t.source().begin.line), static_cast<int>(t.source().begin.column)};
      bool ok = true;
      if (const toml::node* g = t.get("guest")) {
        if (auto v = read_port_number(*g, "guest")) p.guest_port = *v;
        else ok = false;
      } else {
        error(t, "[[port]] is missing 'guest'", "add the port a server listens on inside the VM, e.g. guest = 3000");
        ok = false;
      }
      const toml::node* h = t.get("host");
      if (!h) {
        p.host_port = p.guest_port;
      } else if (h->is_integer()) {
        if (auto v = read_port_number(*h, "host")) p.host_port = *v;
        else ok = false;
      } else if (auto s = as_string(*h, "'host'", "host = \"127.0.0.1:8080\"")) {
        if (auto e = parse_host_endpoint(*s)) {
          p.host_address = e->address;
          p.host_port = e->port;
        } else {
          error(*h, e.error().message, e.error().hint);
          ok = false;
        }
      } else {
        ok = false;
      }
      if (ok) {
        if (auto [it, inserted] = host_ports.emplace(p.host_port, line_of(h ? *h : t)); !inserted) {
          error(h ? *h : t, "host port " + std::to_string(p.host_port) + " is already forwarded at line " + std::to_string(it->second),
                "each host port may be forwarded once; pick another, e.g. host = " + std::to_string(p.host_port + 1 > 65535 ? 1024 : p.host_port + 1));
          ok = false;
        }
      }
      if (ok) ports.push_back(std::move(p));
    }
  }

  std::optional<EgressRule> read_rule(const toml::node& el) {
    std::optional<EgressRule> rule;
    if (const auto* s = el.as_string()) {
      auto text = as_string(el, "an egress rule", "\"api.github.com\"");
      if (!text) return std::nullopt;
      auto r = parse_egress_rule(*text);
      if (!r) {
        error(el, "invalid egress rule \"" + printable(s->get()) + "\": " + r.error().message, r.error().hint);
        return std::nullopt;
      }
      rule = std::move(*r);
    } else if (const auto* t = el.as_table()) {
      check_keys(*t, kRuleKeys, "an egress rule");
      const toml::node* host = t->get("host");
      if (!host) {
        error(el, "egress rule is missing 'host'", "write { host = \"api.github.com\", ports = [443] }");
        return std::nullopt;
      }
      auto h = as_string(*host, "'host'", "host = \"api.github.com\"");
      if (!h) return std::nullopt;
      auto r = parse_host_pattern(*h);
      if (!r) {
        error(*host, "invalid egress host \"" + printable(*h) + "\": " + r.error().message, r.error().hint);
        return std::nullopt;
      }
      rule = std::move(*r);
      rule->text = *h;
      rule->ports.assign(std::begin(kDefaultPorts), std::end(kDefaultPorts));
      if (const toml::node* ports = t->get("ports")) {
        const toml::array* pa = as_array(*ports, "'ports'", "ports = [443, 8443]", 1024);
        if (!pa) return std::nullopt;
        if (pa->empty()) {
          error(*ports, "'ports' is empty", "list at least one port, or leave 'ports' out for 80 and 443");
          return std::nullopt;
        }
        std::vector<std::uint16_t> list;
        bool ok = true;
        for (const toml::node& p : *pa) {
          const auto* i = p.as_integer();
          if (!i) {
            error(p, "a port must be an integer, found " + type_name(p.type()), "write ports = [443, 8443]");
            ok = false;
          } else if (i->get() < 1 || i->get() > 65535) {
            error(p, "port " + std::to_string(i->get()) + " is out of range", "ports are 1 to 65535");
            ok = false;
          } else {
            list.push_back(static_cast<std::uint16_t>(i->get()));
          }
        }
        if (!ok) return std::nullopt;
        std::sort(list.begin(), list.end());
        list.erase(std::unique(list.begin(), list.end()), list.end());
        rule->ports = std::move(list);
      }
    } else {
      error(el, "an egress rule must be a string or an inline table, found " + type_name(el.type()),
            "write \"api.github.com\", \"*.npmjs.org:443\", or { host = \"api.github.com\", ports = [443] }");
      return std::nullopt;
    }
    rule->location = Location{display_, static_cast<int>(el.source().begin.line), static_cast<int>(el.source().begin.column)};
    return rule;
  }

  void read_rules(const toml::table& t, std::string_view key, std::vector<EgressRule>& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    const toml::array* a = as_array(*n, "'" + std::string(key) + "'", std::string(key) + " = [\"api.github.com\"]", kMaxRules);
    if (!a) return;
    for (const toml::node& el : *a) {
      auto r = read_rule(el);
      if (!r) continue;
      // Duplicates mean nothing extra; keep the first so the digest ignores them.
      const bool dup = std::any_of(out.begin(), out.end(), [&](const EgressRule& o) {
        return o.kind == r->kind && o.pattern == r->pattern && o.ports == r->ports;
      });
      if (!dup) out.push_back(std::move(*r));
    }
  }

  void read_egress(const toml::table& t, Egress& egress) {
    check_keys(t, kEgressKeys, "[egress]");
    egress.location = Location{display_, static_cast<int>(t.source().begin.line), static_cast<int>(t.source().begin.column)};
    if (const toml::node* n = t.get("mode")) {
      if (auto s = as_string(*n, "'mode'", "mode = \"enforce\"")) {
        if (*s == "learn") egress.mode = EgressMode::learn;
        else if (*s != "enforce") error(*n, "invalid egress mode '" + printable(*s) + "'",
                                        "write mode = \"enforce\" (the default: only allowed hosts) or mode = \"learn\" (allow and log everything)");
      }
    }
    read_rules(t, "allow", egress.allow);
    read_rules(t, "deny", egress.deny);
    if (const toml::node* n = t.get("trust_host_ca")) {
      if (const auto* b = n->as_boolean()) egress.trust_host_ca = b->get();
      else error(*n, "'trust_host_ca' must be a boolean, found " + type_name(n->type()), "write trust_host_ca = true (no quotes)");
    }
  }

  // [docker] enabled: without [image] the dev image (it carries Docker); without a written
  // memory or disk, sizes dockerd can work in; written ones below the minimums are errors.
  void read_docker(const toml::table& t, const toml::table& root, Sandboxfile& out) {
    check_keys(t, kDockerKeys, "[docker]");
    out.docker.location = Location{display_, static_cast<int>(t.source().begin.line), static_cast<int>(t.source().begin.column)};
    if (const toml::node* n = t.get("enabled")) {
      if (const auto* b = n->as_boolean()) out.docker.enabled = b->get();
      else error(*n, "'enabled' must be a boolean, found " + type_name(n->type()), "write enabled = true (no quotes)");
    }
    if (const toml::node* n = t.get("insecure_registries")) {
      if (auto list = string_list(*n, "'insecure_registries'", "insecure_registries = [\"registry.example:5000\"]", 16)) {
        for (const auto& entry : *list) {
          const std::string r = lower(entry);
          const auto colon = r.rfind(':');
          const std::string host = colon == std::string::npos ? r : r.substr(0, colon);
          const std::string port = colon == std::string::npos ? "" : r.substr(colon + 1);
          const bool host_ok = !host.empty() && host.size() <= 253 && host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") == std::string::npos &&
                               host.front() != '.' && host.front() != '-';
          const bool port_ok = port.empty() || (port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
                                                std::stoi(port) >= 1 && std::stoi(port) <= 65535);
          if (!host_ok || !port_ok) error(*n, "insecure registry '" + printable(entry) + "' is not a host name with an optional port",
                                          "write e.g. \"registry.example:5000\" (no scheme, no path)");
          else if (std::find(out.docker.insecure_registries.begin(), out.docker.insecure_registries.end(), r) == out.docker.insecure_registries.end())
            out.docker.insecure_registries.push_back(r);
        }
      }
    }
    if (!out.docker.enabled) {
      if (!out.docker.insecure_registries.empty())
        error(*t.get("insecure_registries"), "'insecure_registries' needs enabled = true", "write enabled = true in [docker], or remove insecure_registries");
      return;
    }
    if (!root.get("image")) {
      out.image = *parse_image_ref("dev", project_dir_);
      out.image.location = out.docker.location;
    }
    const toml::node* res_node = root.get("resources");
    const toml::table* res = res_node ? res_node->as_table() : nullptr;
    const toml::node* mem = res ? res->get("memory") : nullptr;
    if (!mem) out.resources.memory_bytes = kDockerDefaultMemoryBytes;
    else if (out.resources.memory_bytes < kDockerMinMemoryBytes)
      error(*mem, "[docker] needs at least 512 MiB of memory; [resources] memory gives " + std::to_string(out.resources.memory_bytes >> 20) + " MiB",
            "write memory = \"1GiB\" (or remove it: with [docker] the default is 1 GiB)");
    const toml::node* disk = res ? res->get("disk") : nullptr;
    if (!disk) out.resources.disk_bytes = kDockerDefaultDiskBytes;
    else if (out.resources.disk_bytes < kDockerMinDiskBytes)
      error(*disk, "[docker] needs a sandbox disk of at least 1 GiB for images; [resources] disk gives " + std::to_string(out.resources.disk_bytes >> 20) + " MiB",
            "write disk = \"8GiB\" (or remove it: with [docker] the default is 8 GiB, sparse)");
  }

  void read_secrets(const toml::node& n, Sandboxfile& out) {
    const toml::array* a = n.as_array();
    if (!a || !a->is_array_of_tables()) {
      error(n, "'secret' must be an array of tables, found " + type_name(n.type()),
            "write each secret as its own [[secret]] section");
      return;
    }
    if (a->size() > kMaxSecrets) {
      error(n, "too many secrets (" + std::to_string(a->size()) + "); at most " + std::to_string(kMaxSecrets) + " are allowed");
      return;
    }
    const HostMatcher allowed(out.egress.allow), denied(out.egress.deny);
    std::map<std::string, int> env_vars;                       // variable -> line
    std::map<std::pair<std::string, std::string>, int> bound;  // (host, lower-case header) -> line
    for (const toml::node& el : *a) {
      const toml::table& t = *el.as_table();
      check_keys(t, kSecretKeys, "[[secret]]");
      Secret s;
      s.location = Location{display_, static_cast<int>(t.source().begin.line), static_cast<int>(t.source().begin.column)};
      bool ok = true;
      if (const toml::node* name = t.get("name")) {
        if (auto v = as_string(*name, "'name'", "name = \"github-token\"")) {
          if (auto rule = check_secret_name(*v)) s.name = *v;
          else { error(*name, rule.error().message, rule.error().hint); ok = false; }
        } else {
          ok = false;
        }
      } else {
        error(t, "[[secret]] is missing 'name'", "add the name of the secret in the host store, e.g. name = \"github-token\" (see 'sbx secret set')");
        ok = false;
      }
      if (const toml::node* inject = t.get("inject")) {
        if (auto v = as_string(*inject, "'inject'", "inject = \"header\"")) {
          if (*v == "env") s.inject = InjectKind::env;
          else if (*v != "header") {
            error(*inject, "invalid inject mode '" + printable(*v) + "'",
                  "write inject = \"header\" (the proxy adds it to requests; the VM never sees it) or inject = \"env\" (weaker: the VM sees the value)");
            ok = false;
          }
        } else {
          ok = false;
        }
      }
      if (s.inject == InjectKind::env) {
        ok = read_env_secret(t, out.agent, env_vars, s) && ok;
      } else {
        ok = read_header_secret(t, allowed, denied, s) && ok;
        if (ok) ok = claim_headers(*t.get("header"), s, bound);
      }
      if (ok) out.secrets.push_back(std::move(s));
    }
  }

  // The env half of a [[secret]]: one variable, set nowhere else. False when it is invalid.
  bool read_env_secret(const toml::table& t, const Agent& agent, std::map<std::string, int>& env_vars, Secret& s) {
    bool ok = true;
    for (std::string_view key : {"hosts"sv, "header"sv, "template"sv})
      if (const toml::node* node = t.get(key)) { error(*node, "'" + std::string(key) + "' applies only to inject = \"header\"", "remove it, or use inject = \"header\""); ok = false; }
    const toml::node* env = t.get("env");
    if (!env) {
      error(t, "[[secret]] with inject = \"env\" is missing 'env'", "add the variable name inside the VM, e.g. env = \"GITHUB_TOKEN\"");
      return false;
    }
    auto v = as_string(*env, "'env'", "env = \"GITHUB_TOKEN\"");
    if (!v) return false;
    if (!is_env_name(*v)) {
      error(*env, "invalid environment variable name '" + printable(*v) + "'", "names are letters, digits and '_', not starting with a digit");
      return false;
    }
    if (agent.env.contains(*v)) {
      error(*env, "'" + *v + "' is also set in [agent] env", "remove one of them");
      return false;
    }
    if (is_reserved_env_name(*v)) {
      error(*env, "'" + *v + "' is set by sbx and cannot be overridden", "name the variable differently");
      return false;
    }
    if (auto [it, inserted] = env_vars.emplace(*v, line_of(*env)); !inserted) {
      error(*env, "'" + *v + "' is already set by the secret at line " + std::to_string(it->second), "each variable may be set once");
      return false;
    }
    s.env_var = *v;
    return ok;
  }

  // The header half of a [[secret]]: exact allowed hosts, a header the proxy does not own, and
  // a template. False when it is invalid.
  bool read_header_secret(const toml::table& t, const HostMatcher& allowed, const HostMatcher& denied, Secret& s) {
    bool ok = true;
    const toml::node* hosts = t.get("hosts");
    const toml::node* header = t.get("header");
    const toml::node* tmpl = t.get("template");
    if (const toml::node* env = t.get("env")) { error(*env, "'env' applies only to inject = \"env\"", "remove it, or set inject = \"env\" (weaker: the VM sees the value)"); ok = false; }
    if (!hosts) {
      error(t, "[[secret]] is missing 'hosts'", "list the hosts the header is added for, e.g. hosts = [\"api.github.com\"]");
      ok = false;
    } else if (auto list = string_list(*hosts, "'hosts'", "hosts = [\"api.github.com\"]", kMaxSecretHosts)) {
      if (list->empty()) { error(*hosts, "'hosts' is empty", "list at least one host, e.g. hosts = [\"api.github.com\"]"); ok = false; }
      const toml::array& arr = *hosts->as_array();
      for (size_t i = 0; i < list->size(); ++i) {
        auto host = check_secret_host((*list)[i], allowed, denied);
        if (!host) {
          error(*arr.get(i), host.error().message, host.error().hint);
          ok = false;
          continue;
        }
        if (std::find(s.hosts.begin(), s.hosts.end(), *host) == s.hosts.end()) s.hosts.push_back(*host);
      }
    } else {
      ok = false;
    }
    if (!header) {
      error(t, "[[secret]] is missing 'header'", "name the HTTP header, e.g. header = \"Authorization\"");
      ok = false;
    } else if (auto v = as_string(*header, "'header'", "header = \"Authorization\"")) {
      if (auto rule = check_secret_header(*v)) s.header = *v;
      else { error(*header, rule.error().message, rule.error().hint); ok = false; }
    } else {
      ok = false;
    }
    s.value_template = "{}";
    if (tmpl) {
      if (auto v = as_string(*tmpl, "'template'", "template = \"Bearer {}\"")) {
        if (auto rule = check_value_template(*v)) s.value_template = *v;
        else { error(*tmpl, rule.error().message, rule.error().hint); ok = false; }
      } else {
        ok = false;
      }
    }
    return ok;
  }

  // Each header is injected once per host: claim (host, header) for every host of `s`.
  bool claim_headers(const toml::node& header, const Secret& s, std::map<std::pair<std::string, std::string>, int>& bound) {
    bool ok = true;
    for (const std::string& h : s.hosts) {
      if (auto [it, inserted] = bound.emplace(std::pair{h, lower(s.header)}, s.location.line); !inserted) {
        error(header, "header '" + s.header + "' for '" + h + "' is already set by the secret at line " + std::to_string(it->second),
              "each header is injected once per host");
        ok = false;
      }
    }
    return ok;
  }

  std::string_view text_;
  std::optional<std::string> version_override_;  // [agent] version
  std::string display_;
  fs::path file_;
  fs::path project_dir_;
  Diagnostics diags_;
};

fs::path normal_dir(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = p;
  std::string s = abs.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Result<Sandboxfile> load_string(std::string_view text, std::string_view display_name, const fs::path& project_dir) {
  const fs::path dir = normal_dir(project_dir);
  if (text.size() > kMaxFileBytes)
    return fail(ErrorCode::invalid, std::string(display_name) + " is larger than 1 MiB", "a Sandboxfile is a short text file; check the path",
                Location{std::string(display_name), 0, 0});
  return Loader(text, std::string(display_name), dir / "Sandboxfile", dir).load();
}

Result<Sandboxfile> load_file(const fs::path& path) {
  std::error_code ec;
  fs::path file = path;
  if (fs::is_directory(path, ec)) file = path / "Sandboxfile";
  const std::string display = file.lexically_normal().string();
  const Location where{};  // the messages name the path; a file:line prefix would repeat it
  const auto status = fs::status(file, ec);
  if (ec || !fs::exists(status)) {
    if (file.filename() == "Sandboxfile")
      return fail(ErrorCode::not_found, "no Sandboxfile in " + normal_dir(file.parent_path().empty() ? fs::path(".") : file.parent_path()).string(),
                  "run 'sbx init' to create one, or pass the path of a Sandboxfile", where);
    return fail(ErrorCode::not_found, display + ": no such file", "check the path", where);
  }
  if (!fs::is_regular_file(status)) return fail(ErrorCode::invalid, display + " is not a regular file", "pass a Sandboxfile or its directory", where);
  const auto size = fs::file_size(file, ec);
  if (ec) return fail(ErrorCode::io, "cannot read " + display + ": " + ec.message(), {}, where);
  if (size > kMaxFileBytes)
    return fail(ErrorCode::invalid, display + " is larger than 1 MiB", "a Sandboxfile is a short text file; check the path", where);
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(ErrorCode::io, "cannot open " + display, "check its permissions", where);
  std::string text;
  text.resize(static_cast<size_t>(size));
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<size_t>(in.gcount()));
  const fs::path abs = normal_dir(file);
  return Loader(text, display, abs, abs.parent_path()).load();
}

}  // namespace sbx::config
