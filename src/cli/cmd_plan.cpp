// sbx plan [PATH]: print the fully resolved desired state of a Sandboxfile and its digest.
#include <algorithm>
#include <iostream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/text.h"
#include "config/canonical.h"
#include "config/loader.h"
#include "config/mount_check.h"
#include "config/names.h"
#include "config/units.h"
#include "policy/discovery.h"
#include "policy/explain.h"
#include "proxy/host_pins.h"
#include "reconcile/host_ca.h"
#include "reconcile/host_resources.h"

namespace sbx::cli {

namespace {

std::string ports_text(const std::vector<std::uint16_t>& ports) {
  std::string out;
  for (auto p : ports) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

std::string rule_text(const config::EgressRule& r) {
  std::string host;
  switch (r.kind) {
    case config::HostPatternKind::exact: host = r.pattern; break;
    case config::HostPatternKind::wildcard: host = "*." + r.pattern; break;
    case config::HostPatternKind::regex: host = "re:" + r.pattern; break;
    case config::HostPatternKind::cidr: host = r.pattern; break;
  }
  return host + "  ports " + ports_text(r.ports) + "  (" + std::string(config::to_string(r.kind)) + ")";
}

// How [resources] fits this host: what 'sbx up' would refuse or warn about. Not part of the digest.
struct HostFit {
  reconcile::HostFacts host;
  reconcile::ResourceFit fit;
};

std::optional<HostFit> host_fit(const config::Sandboxfile& f) {
  auto host = reconcile::read_host_facts();
  if (!host) return std::nullopt;
  return HostFit{*host, reconcile::check_resources(f.resources, *host, reconcile::host_ceilings(*host))};
}

nlohmann::json host_json(const HostFit& h) {
  return {{"cpus", h.host.cpus}, {"memory_total", h.host.memory_total}, {"memory_available", h.host.memory_available},
          {"fits", h.fit.fits()}, {"problems", h.fit.problems}, {"hints", h.fit.hints}, {"warnings", h.fit.warnings}};
}

// What the active policies say: the report, or why they cannot be applied (not part of the digest).
struct PolicyView {
  std::vector<policy::Policy> policies;
  policy::Report report;
  std::string problem;
};

PolicyView policy_view(const config::Sandboxfile& f) {
  PolicyView v;
  auto policies = policy::discover_policies();
  if (!policies) {
    v.problem = policies.error().message;
    return v;
  }
  v.policies = std::move(*policies);
  v.report = policy::check(f, v.policies);
  return v;
}

void policy_lines(std::ostringstream& o, const PolicyView& pv, policy::Item item) {
  for (const auto& line : policy::constraint_lines(pv.report, item)) o << "    policy   " << line << "\n";
}

nlohmann::json policy_json(const PolicyView& pv) {
  nlohmann::json j = policy::report_json(pv.report);
  if (!pv.problem.empty()) j = {{"ok", false}, {"problem", pv.problem}};
  nlohmann::json names = nlohmann::json::array();
  for (const auto& p : pv.policies) names.push_back({{"name", p.name}, {"file", p.display}, {"enforcement", policy::to_string(p.enforcement)}});
  j["policies"] = names;
  nlohmann::json constraints = nlohmann::json::array();
  for (const auto& c : pv.report.constraints)
    constraints.push_back({{"item", static_cast<int>(c.item.kind)}, {"index", c.item.index}, {"what", c.what},
                           {"policy", c.policy}, {"policy_rule", c.policy_at.str()}});
  j["constraints"] = constraints;
  return j;
}


// "  (preset NAME)" after a line the preset filled in because the file did not say it.
std::string mark(const config::Sandboxfile& f, std::string_view key) {
  const bool from = std::find(f.from_preset.begin(), f.from_preset.end(), key) != f.from_preset.end();
  return from ? "  (preset " + f.agent.preset + ")" : "";
}


// Which CAs the guest trusts for TLS it checks itself (tunnelled hosts).
std::string trust_text(const config::Sandboxfile& f) {
  const bool header = std::any_of(f.secrets.begin(), f.secrets.end(),
                                  [](const config::Secret& s) { return s.inject == config::InjectKind::header; });
  std::string t = "the image's CA bundle";
  if (header) t += ", the egress proxy's CA (for the hosts it adds headers to)";
  if (!f.egress.trust_host_ca) return t + "; not the CAs this host's administrator added (trust_host_ca = false)";
  auto cas = reconcile::collect_host_cas(reconcile::host_ca_dirs());
  if (!cas) return t + "; 'sbx up' refuses trust_host_ca: " + cas.error().message;
  if (cas->certificates == 0) return t + "; trust_host_ca = true, but this host has added no CA of its own";
  t += ", and " + std::to_string(cas->certificates) + " CA certificate(s) this host added (trust_host_ca = true):";
  for (const auto& file : cas->files) t += " " + file.string();
  return t;
}

nlohmann::json pins_json(const std::vector<proxy::HostPin>& pins) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& p : pins) {
    nlohmann::json addrs = nlohmann::json::array();
    for (const auto& ip : p.addresses) addrs.push_back(ip.str());
    a.push_back({{"name", p.name}, {"addresses", addrs}});
  }
  return a;
}

std::string render_plan(const config::Sandboxfile& f, const std::string& digest, const std::optional<HostFit>& host,
                        const PolicyView& pv, const std::vector<proxy::HostPin>& pins) {
  std::ostringstream o;
  o << "sandbox    " << f.name << "\n"
    << "file       " << f.file.string() << "  (version " << f.version << ")\n"
    << "digest     " << digest << "\n\n";
  o << "[agent]\n"
    << "  preset   " << f.agent.preset << "\n"
    << "  command ";
  for (const auto& a : f.agent.command) o << ' ' << text::shell_quote(a);
  o << mark(f, "agent.command") << "\n";
  if (!f.agent.headless.empty()) {
    o << "  headless";
    for (const auto& a : f.agent.headless) o << ' ' << text::shell_quote(a);
    o << "\n";
  }
  if (f.agent.package)
    o << "  package  " << f.agent.package->name << "@" << f.agent.package->version << " (runs " << f.agent.package->bin
      << ")" << mark(f, "agent.version") << "\n";
  o << "  workdir  " << f.agent.workdir << "\n"
    << "  user     " << f.agent.user << "\n";
  for (const auto& [k, v] : f.agent.env) o << "  env      " << k << "=" << text::shell_quote(v) << mark(f, "agent.env." + k) << "\n";
  o << "\n[image]\n  " << config::to_string(f.image.kind) << "  " << f.image.reference << mark(f, "image") << "\n";
  if (f.image.kind == config::ImageKind::dev)
    o << "  built    by sbx from Debian packages" << (f.agent.package ? ", plus a layer with " + f.agent.package->name : std::string()) << "\n";
  if (f.image.digest) o << "  pinned   " << *f.image.digest << "\n";
  o << "\n[resources]\n"
    << "  cpus     " << f.resources.cpus << mark(f, "resources.cpus") << "\n"
    << "  memory   " << config::format_size(f.resources.memory_bytes) << mark(f, "resources.memory") << "\n"
    << "  disk     " << config::format_size(f.resources.disk_bytes) << "\n";
  if (host) {
    if (host->fit.fits())
      o << "  host     fits: " << host->host.cpus << " CPUs, " << reconcile::approx_size(host->host.memory_total) << " RAM ("
        << reconcile::approx_size(host->host.memory_available) << " available now)\n";
    for (size_t i = 0; i < host->fit.problems.size(); ++i)
      o << "  host     'sbx up' refuses: " << host->fit.problems[i] << " (" << host->fit.hints[i] << ")\n";
    for (const auto& w : host->fit.warnings) o << "  host     warning: " << w << "\n";
  }
  o << "\n[[mount]]\n";
  if (f.mounts.empty()) o << "  (none: the VM sees no host directory)\n";
  for (const auto& m : f.mounts) {
    o << "  " << m.source.string() << " -> " << m.target << "  (" << (m.writable ? "rw" : "ro");
    if (m.cache != config::MountCache::auto_) o << ", cache " << config::to_string(m.cache);
    o << ")\n";
    // A symlink on the way is shown resolved: that directory is the one sbx up serves.
    if (auto real = config::resolve_mount_source(f, m); real && *real != m.source) o << "    served from " << real->string() << "\n";
    for (const auto& l : m.local) o << "    local    " << m.target << "/" << l << "  (on the sandbox disk, hidden from the host)\n";
    policy_lines(o, pv, {policy::ItemKind::mount, static_cast<size_t>(&m - f.mounts.data())});
  }
  o << "\n[egress]  mode " << config::to_string(f.egress.mode)
    << (f.egress.mode == config::EgressMode::enforce ? ": every host not allowed below is refused\n"
                                                     : ": every connection is allowed and logged\n");
  if (f.egress.allow.empty()) o << "  allow    (nothing)\n";
  for (size_t i = 0; i < f.egress.allow.size(); ++i) {
    const auto& r = f.egress.allow[i];
    o << "  allow    " << rule_text(r) << (r.location.file.starts_with("preset ") ? mark(f, "egress.allow") : "") << "\n";
    policy_lines(o, pv, {policy::ItemKind::egress_rule, i});
  }
  for (const auto& r : f.egress.deny) o << "  deny     " << rule_text(r) << "\n";
  o << "  trust    " << trust_text(f) << "\n";
  for (const auto& p : pins) {
    o << "  pin      " << p.name << " ->";
    for (const auto& ip : p.addresses) o << ' ' << ip.str();
    o << "  (" << proxy::kHostPinsEnv << "; not in the digest)\n";
  }
  o << "\n[[secret]]\n";
  if (f.secrets.empty()) o << "  (none)\n";
  for (const auto& s : f.secrets) {
    if (s.inject == config::InjectKind::header) {
      std::string hosts;
      for (const auto& h : s.hosts) hosts += (hosts.empty() ? "" : ", ") + h;
      o << "  " << s.name << "  header " << s.header << ": " << s.value_template << "  to " << hosts << mark(f, "secret." + s.name) << "\n";
    } else {
      o << "  " << s.name << "  env " << s.env_var << "  (the VM sees the value)\n";
    }
    policy_lines(o, pv, {policy::ItemKind::secret, static_cast<size_t>(&s - f.secrets.data())});
  }
  if (f.docker.enabled) {  // only when on: plans of files without [docker] read as they did
    o << "\n[docker]\n  enabled  a private dockerd in the VM (state on the sandbox disk; pulls and containers through [egress])\n";
    for (const auto& r : f.docker.insecure_registries) o << "  insecure " << r << "  (plain HTTP, still through [egress])\n";
    policy_lines(o, pv, {policy::ItemKind::docker, 0});
  }
  o << "\n[policy]\n";
  if (!pv.problem.empty()) o << "  cannot be applied: " << pv.problem << "\n";
  for (const auto& p : pv.policies)
    o << "  " << p.name << "  " << policy::to_string(p.enforcement) << "  " << (p.file.empty() ? p.display : p.file.string()) << "\n";
  for (const auto& v : pv.report.violations)
    o << "  " << (v.enforcement == policy::Enforcement::enforce ? "violation" : "warning") << "  " << v.sandboxfile_at.str() << ": "
      << v.message << " (" << v.policy_at.str() << ")\n";
  return o.str();
}

int run_plan(const Args& args) {
  const std::string path = args.positionals.empty() ? "." : args.positionals.front();
  const Output out = Output::for_args(args);
  const bool json = out.json();
  auto file = config::load_file(path);
  if (!file) return out.problems(file.error());
  const std::string digest = config::digest(*file);
  const auto host = host_fit(*file);
  const PolicyView pv = policy_view(*file);
  // The host's pins are shown beside the file's state; 'sbx up' refuses a bad value, so does plan.
  auto pins = proxy::host_pins_from_env();
  if (!pins) return out.error(pins.error());
  if (json) {
    nlohmann::json j = {{"ok", true}, {"digest", digest}, {"file", file->file.string()}, {"desired", config::to_json(*file)}};
    if (host) j["host"] = host_json(*host);
    j["policy"] = policy_json(pv);
    j["from_preset"] = file->from_preset;  // not in "desired": where a value came from is not what runs
    j["egress_pins"] = pins_json(*pins);
    out.result(j);
  } else {
    std::cout << render_plan(*file, digest, host, pv, *pins);
  }
  return 0;
}

}  // namespace

const CommandSpec kPlanCommand{
    .name = "plan",
    .summary = "Show the fully resolved desired state of a Sandboxfile",
    .usage = "sbx plan [OPTIONS] [PATH]",
    .description =
        "Loads the Sandboxfile at PATH (a file, or a directory holding one; default: the current\n"
        "directory) and prints what sbx would run: every default filled in, sizes in bytes, paths\n"
        "absolute, egress rules normalised (lower case, explicit ports), presets expanded into the\n"
        "command. This is the desired state the reconciler compares with what is running.\n"
        "\n"
        "The digest (sha256:...) is computed over a canonical JSON serialisation of that state, so\n"
        "it does not change when only key order, comments or whitespace in the file change, and it\n"
        "changes whenever the meaning does.\n"
        "\n"
        "It also shows whether [resources] fits this host (the CPUs sbx may use, the RAM, the memory\n"
        "available now): what 'sbx up' would refuse, with the largest value that fits, or warn about.\n"
        "That is not part of the digest, nor is the [policy] part: the active policies, and under each\n"
        "mount, egress rule and secret binding the policy rules that constrained it (or that it breaks);\n"
        "nor are the egress pins of SBX_EGRESS_RESOLVE (host configuration: names the egress proxy\n"
        "connects to fixed addresses), shown under [egress].\n"
        "\n"
        "If the file is invalid, the problems are reported as by 'sbx validate'.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  printed the plan\n"
        "    1  the Sandboxfile is invalid or cannot be read\n"
        "    2  usage error\n"
        "\n"
        "OUTPUT\n"
        "    --json prints {\"ok\":true,\"digest\",\"file\",\"desired\":{...}} on stdout; \"desired\" is the\n"
        "    canonical document the digest is computed over; \"host\" {cpus, memory_total,\n"
        "    memory_available, fits, problems, hints, warnings} says how it fits this host; \"policy\"\n"
        "    {ok, violations, policies, constraints} what the active policies say.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx plan examples/hello\n"
        "    sbx plan --json | jq -r .digest\n",
    .options = {{.long_name = "json", .help = "Print the desired state as one JSON object on stdout."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_plan,
};

}  // namespace sbx::cli
