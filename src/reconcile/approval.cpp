#include "reconcile/approval.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/digest.h"
#include "common/paths.h"
#include "config/protect.h"
#include "policy/discovery.h"
#include "policy/policy.h"

namespace sbx::reconcile {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kind_name(config::HostPatternKind k) {
  switch (k) {
    case config::HostPatternKind::exact: return "exact";
    case config::HostPatternKind::wildcard: return "wildcard";
    case config::HostPatternKind::regex: return "regex";
    case config::HostPatternKind::cidr: return "cidr";
  }
  return "exact";
}

// "Sandboxfile:12" (the file's name, not its whole path: the diff is read next to it).
std::string at_text(const Location& loc) {
  if (!loc.known()) return {};
  Location l = loc;
  l.file = fs::path(l.file).filename().string();
  l.column = 0;
  return l.str();
}

std::string suffix(const std::string& at) { return at.empty() ? std::string() : " (" + at + ")"; }

EgressGrant egress_grant(const config::EgressRule& r) {
  return {kind_name(r.kind), r.pattern, r.ports, r.text.empty() ? r.pattern : r.text, at_text(r.location)};
}

bool ports_within(const std::vector<std::uint16_t>& inner, const std::vector<std::uint16_t>& outer) {
  return std::all_of(inner.begin(), inner.end(),
                     [&](std::uint16_t p) { return std::find(outer.begin(), outer.end(), p) != outer.end(); });
}

// `sub` is `dir` or below it (both absolute and normalised).
bool path_within(const std::string& sub, const std::string& dir) {
  if (sub == dir) return true;
  if (dir == "/") return sub.starts_with("/");
  return sub.size() > dir.size() && sub.starts_with(dir) && sub[dir.size()] == '/';
}

// Every host `r` allows, `a` allows too. Only what is certain: an exact host under a wildcard,
// a deeper wildcard under a wildcard, or the same rule text; regexes and CIDRs are compared as
// text (whether one regex covers another is not decided here).
bool rule_covered(const EgressGrant& r, const EgressGrant& a) {
  if (!ports_within(r.ports, a.ports)) return false;
  if (r.kind == a.kind && r.pattern == a.pattern) return true;
  if (a.kind == "wildcard" && (r.kind == "exact" || r.kind == "wildcard"))
    return r.pattern.size() > a.pattern.size() + 1 && r.pattern.ends_with("." + a.pattern);
  return false;
}

bool mount_covered(const MountGrant& m, const MountGrant& a) {
  return path_within(m.source, a.source) && (!m.writable || a.writable);
}

bool secret_covered(const SecretGrant& s, const SecretGrant& a) {
  if (s.name != a.name || s.inject != a.inject || s.header != a.header || s.value_template != a.value_template ||
      s.env_var != a.env_var)
    return false;
  return std::all_of(s.hosts.begin(), s.hosts.end(), [&](const std::string& h) {
    return std::find(a.hosts.begin(), a.hosts.end(), h) != a.hosts.end();
  });
}

std::string mount_text(const MountGrant& m) {
  return "mount " + m.source + " -> " + m.target + (m.writable ? " read-write" : " read-only");
}

std::string rule_text(const char* what, const EgressGrant& r) {
  std::string ports;
  for (auto p : r.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  return std::string("egress ") + what + " \"" + r.text + "\"" + (ports.empty() ? "" : " ports " + ports);
}

std::string secret_text(const SecretGrant& s) {
  if (s.inject == "env") return "secret " + s.name + " as env " + s.env_var + " in the guest";
  std::string hosts;
  for (const auto& h : s.hosts) hosts += (hosts.empty() ? "" : ", ") + h;
  return "secret " + s.name + " as header " + s.header + " to " + hosts;
}

std::string port_text(const PortGrant& p) {
  return "port " + p.address + ":" + std::to_string(p.host_port) + " -> " + std::to_string(p.guest_port) + " in the guest";
}

std::string policy_text(const PolicyGrant& p) {
  return "policy " + p.name + " (" + p.origin + (p.file.empty() ? "" : ", " + p.file) + ")";
}

// Desired entries no approved one covers widen ("+"); approved entries gone from the desired
// list are shown as narrowing ("-"), unless `gone_widens` (deny rules, policies, protect).
template <class T, class Covered, class Text>
void diff_list(const std::vector<T>& approved, const std::vector<T>& desired, Covered covered, Text text,
               std::vector<Change>& out, bool gone_widens = false) {
  for (const auto& d : desired)
    if (std::none_of(approved.begin(), approved.end(), [&](const T& a) { return covered(d, a); }))
      out.push_back({!gone_widens, "+ " + text(d)});
  for (const auto& a : approved)
    if (std::none_of(desired.begin(), desired.end(), [&](const T& d) { return covered(a, d); }))
      out.push_back({gone_widens, "- " + text(a)});
}

json egress_json(const std::vector<EgressGrant>& rules) {
  json a = json::array();
  for (const auto& r : rules) a.push_back({{"kind", r.kind}, {"pattern", r.pattern}, {"ports", r.ports}, {"text", r.text}, {"at", r.at}});
  return a;
}

std::vector<EgressGrant> egress_from(const json& a) {
  std::vector<EgressGrant> out;
  for (const auto& r : a)
    out.push_back({r.at("kind").get<std::string>(), r.at("pattern").get<std::string>(),
                   r.at("ports").get<std::vector<std::uint16_t>>(), r.value("text", std::string()), r.value("at", std::string())});
  return out;
}

}  // namespace

const std::vector<std::string>& default_protect() {
  static const std::vector<std::string> list(std::begin(config::kDefaultProtect), std::end(config::kDefaultProtect));
  return list;
}

Grants grants_of(const config::Sandboxfile& file, std::vector<PolicyGrant> policies) {
  Grants g;
  for (const auto& m : file.mounts) g.mounts.push_back({m.source.string(), m.target, m.writable, at_text(m.location)});
  g.egress_mode = file.egress.mode == config::EgressMode::learn ? "learn" : "enforce";
  g.trust_host_ca = file.egress.trust_host_ca;
  g.docker = file.docker.enabled;
  for (const auto& r : file.egress.allow) g.egress_allow.push_back(egress_grant(r));
  for (const auto& r : file.egress.deny) g.egress_deny.push_back(egress_grant(r));
  for (const auto& s : file.secrets)
    g.secrets.push_back({s.name, s.inject == config::InjectKind::env ? "env" : "header", s.hosts, s.header,
                         s.value_template, s.env_var, at_text(s.location)});
  g.image = file.image.reference + (file.image.digest ? "@" + *file.image.digest : std::string());
  for (const auto& p : file.ports) g.ports.push_back({p.host_address, p.host_port, p.guest_port, at_text(p.location)});
  g.policies = std::move(policies);
  g.protect = default_protect();
  for (const auto& p : file.protect) g.protect.push_back(p);
  std::sort(g.protect.begin(), g.protect.end());
  g.protect.erase(std::unique(g.protect.begin(), g.protect.end()), g.protect.end());
  return g;
}

Result<std::vector<PolicyGrant>> policy_grants(const std::vector<policy::Policy>& policies) {
  std::vector<PolicyGrant> out;
  for (const auto& p : policies) {
    PolicyGrant g{p.name, std::string(policy::to_string(p.origin)), p.file.string(), {}, p.signer};
    if (p.file.empty()) g.digest = digest::sha256(policy::baseline_text());
    else g.digest = SBX_TRY(digest::sha256_file(p.file));
    out.push_back(std::move(g));
  }
  return out;
}

Grants baseline_grants(const config::Sandboxfile& file, std::vector<PolicyGrant> policies) {
  Grants g;
  g.mounts.push_back({file.project_dir.lexically_normal().string(), "", false, {}});
  g.image = "builtin:default";  // what [image] ref = "builtin" resolves to
  g.policies = std::move(policies);
  g.protect = default_protect();
  return g;
}

std::vector<Change> compare(const Grants& approved, const Grants& desired) {
  std::vector<Change> out;
  diff_list(approved.mounts, desired.mounts, mount_covered, mount_text, out);
  // A CA that may inspect TLS can impersonate any host to the agent: trusting one widens.
  if (approved.trust_host_ca != desired.trust_host_ca)
    out.push_back({desired.trust_host_ca, std::string("~ egress trust_host_ca ") + (approved.trust_host_ca ? "true" : "false") +
                                              " -> " + (desired.trust_host_ca ? "true (the guest trusts the CAs this host added)" : "false")});
  // A daemon that builds and runs any image as root in the guest: turning it on widens.
  if (approved.docker != desired.docker)
    out.push_back({desired.docker, std::string("~ docker ") + (approved.docker ? "enabled" : "disabled") + " -> " +
                                       (desired.docker ? "enabled (a Docker daemon in the guest; its pulls and containers use the egress rules)" : "disabled")});
  if (approved.egress_mode != desired.egress_mode)
    out.push_back({desired.egress_mode == "learn",
                   "~ egress mode " + approved.egress_mode + " -> " + desired.egress_mode +
                       (desired.egress_mode == "learn" ? " (every host reachable)" : "")});
  diff_list(approved.egress_allow, desired.egress_allow, rule_covered,
            [](const EgressGrant& r) { return rule_text("allow", r) + suffix(r.at); }, out);
  // A deny rule only narrows: a new one is fine, a removed or changed one widens.
  diff_list(approved.egress_deny, desired.egress_deny,
            [](const EgressGrant& a, const EgressGrant& b) { return a.kind == b.kind && a.pattern == b.pattern && ports_within(a.ports, b.ports); },
            [](const EgressGrant& r) { return rule_text("deny", r) + suffix(r.at); }, out, true);
  diff_list(approved.secrets, desired.secrets, secret_covered,
            [](const SecretGrant& s) { return secret_text(s) + suffix(s.at); }, out);
  if (approved.image != desired.image) {
    // Pinning a digest to the approved reference narrows; anything else is another image.
    const bool pinned = desired.image.starts_with(approved.image + "@") && approved.image.find('@') == std::string::npos;
    out.push_back({!pinned, "~ image " + approved.image + " -> " + desired.image});
  }
  diff_list(approved.ports, desired.ports,
            [](const PortGrant& a, const PortGrant& b) { return a.address == b.address && a.host_port == b.host_port && a.guest_port == b.guest_port; },
            [](const PortGrant& p) { return port_text(p) + suffix(p.at); }, out);
  diff_list(approved.policies, desired.policies,
            [](const PolicyGrant& a, const PolicyGrant& b) { return a.name == b.name && a.origin == b.origin && a.file == b.file && a.digest == b.digest; },
            policy_text, out, true);
  diff_list(approved.protect, desired.protect, [](const std::string& a, const std::string& b) { return a == b; },
            [](const std::string& p) { return "protect " + p + " (read-only in the guest)"; }, out, true);
  std::stable_partition(out.begin(), out.end(), [](const Change& c) { return c.widens; });
  return out;
}

bool any_widens(const std::vector<Change>& changes) {
  return std::any_of(changes.begin(), changes.end(), [](const Change& c) { return c.widens; });
}

json grants_to_json(const Grants& g) {
  json mounts = json::array(), secrets = json::array(), ports = json::array(), policies = json::array();
  for (const auto& m : g.mounts) mounts.push_back({{"source", m.source}, {"target", m.target}, {"writable", m.writable}, {"at", m.at}});
  for (const auto& s : g.secrets)
    secrets.push_back({{"name", s.name}, {"inject", s.inject}, {"hosts", s.hosts}, {"header", s.header},
                       {"value_template", s.value_template}, {"env_var", s.env_var}, {"at", s.at}});
  for (const auto& p : g.ports) ports.push_back({{"address", p.address}, {"host_port", p.host_port}, {"guest_port", p.guest_port}, {"at", p.at}});
  for (const auto& p : g.policies)
    policies.push_back({{"name", p.name}, {"origin", p.origin}, {"file", p.file}, {"digest", p.digest}, {"signer", p.signer}});
  json out = {{"mounts", mounts},       {"egress_mode", g.egress_mode}, {"egress_allow", egress_json(g.egress_allow)},
          {"egress_deny", egress_json(g.egress_deny)}, {"secrets", secrets}, {"image", g.image},
          {"ports", ports},         {"policies", policies},        {"protect", g.protect},
          {"trust_host_ca", g.trust_host_ca}};
  if (g.docker) out["docker"] = true;  // only when on: approvals written before [docker] read the same
  return out;
}

Result<Grants> grants_from_json(const json& j) {
  try {
    Grants g;
    for (const auto& m : j.at("mounts"))
      g.mounts.push_back({m.at("source").get<std::string>(), m.at("target").get<std::string>(), m.at("writable").get<bool>(),
                          m.value("at", std::string())});
    g.egress_mode = j.at("egress_mode").get<std::string>();
    g.trust_host_ca = j.value("trust_host_ca", false);
    g.docker = j.value("docker", false);
    g.egress_allow = egress_from(j.at("egress_allow"));
    g.egress_deny = egress_from(j.at("egress_deny"));
    for (const auto& s : j.at("secrets"))
      g.secrets.push_back({s.at("name").get<std::string>(), s.at("inject").get<std::string>(),
                           s.at("hosts").get<std::vector<std::string>>(), s.at("header").get<std::string>(),
                           s.at("value_template").get<std::string>(), s.at("env_var").get<std::string>(),
                           s.value("at", std::string())});
    g.image = j.at("image").get<std::string>();
    for (const auto& p : j.at("ports"))
      g.ports.push_back({p.at("address").get<std::string>(), p.at("host_port").get<std::uint16_t>(),
                         p.at("guest_port").get<std::uint16_t>(), p.value("at", std::string())});
    for (const auto& p : j.at("policies"))
      g.policies.push_back({p.at("name").get<std::string>(), p.at("origin").get<std::string>(), p.at("file").get<std::string>(),
                            p.at("digest").get<std::string>(), p.value("signer", std::string())});
    g.protect = j.at("protect").get<std::vector<std::string>>();
    return g;
  } catch (const json::exception& e) {
    return fail(ErrorCode::invalid, std::string("approval record is not valid: ") + e.what(),
                "delete it; the next 'sbx up' then asks again as for a new Sandboxfile");
  }
}

fs::path approval_record_path(const fs::path& sandboxfile) {
  return paths::state_dir() / "approvals" / (digest::sha256_hex(sandboxfile.lexically_normal().string()) + ".json");
}

Result<std::optional<Grants>> read_approval(const fs::path& record) {
  std::ifstream in(record, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(record, ec)) return std::optional<Grants>{};
    return fail(ErrorCode::io, "cannot read the approval record " + record.string(), "check its permissions");
  }
  std::stringstream s;
  s << in.rdbuf();
  const json j = json::parse(s.str(), nullptr, false);
  if (j.is_discarded() || !j.contains("approved"))
    return fail(ErrorCode::invalid, "approval record " + record.string() + " is not valid JSON",
                "delete it; the next 'sbx up' then asks again as for a new Sandboxfile");
  return std::optional<Grants>{SBX_TRY(grants_from_json(j.at("approved")))};
}

Result<void> write_approval(const fs::path& record, const fs::path& sandboxfile, const Grants& g) {
  SBX_TRY_VOID(paths::ensure_private_dir(record.parent_path()));
  const json j = {{"version", 1}, {"sandboxfile", sandboxfile.string()}, {"approved", grants_to_json(g)}};
  return write_file_atomic(record, j.dump(2) + "\n", AtomicWriteOptions{.mode = 0600});
}

}  // namespace sbx::reconcile
