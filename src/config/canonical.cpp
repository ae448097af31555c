#include "config/canonical.h"

#include "common/digest.h"
#include "config/names.h"

namespace sbx::config {

namespace {
nlohmann::json rule_json(const EgressRule& r) {
  return {{"kind", to_string(r.kind)}, {"pattern", r.pattern}, {"ports", r.ports}};
}
}  // namespace

nlohmann::json to_json(const Sandboxfile& f) {
  using nlohmann::json;
  json mounts = json::array();
  for (const Mount& m : f.mounts) {
    json j = {{"source", m.source.string()}, {"target", m.target}, {"mode", m.writable ? "rw" : "ro"},
              {"cache", to_string(m.cache)}};
    // Only when written, so the digests of sandboxes without `local` stay what they were.
    if (!m.local.empty()) j["local"] = m.local;
    mounts.push_back(std::move(j));
  }
  json ports = json::array();
  for (const Port& p : f.ports)
    ports.push_back({{"host_address", p.host_address}, {"host_port", p.host_port}, {"guest_port", p.guest_port}});
  json allow = json::array(), deny = json::array();
  for (const EgressRule& r : f.egress.allow) allow.push_back(rule_json(r));
  for (const EgressRule& r : f.egress.deny) deny.push_back(rule_json(r));
  json secrets = json::array();
  for (const Secret& s : f.secrets) {
    json j = {{"name", s.name}, {"inject", to_string(s.inject)}};
    if (s.inject == InjectKind::header) {
      j["hosts"] = s.hosts;
      j["header"] = s.header;
      j["template"] = s.value_template;
    } else {
      j["env"] = s.env_var;
    }
    secrets.push_back(std::move(j));
  }
  json agent = {{"preset", f.agent.preset},
                {"command", f.agent.command},
                {"env", f.agent.env},
                {"workdir", f.agent.workdir},
                {"user", f.agent.user}};
  if (!f.agent.headless.empty()) agent["headless"] = f.agent.headless;
  if (f.agent.package)
    agent["package"] = {{"npm", f.agent.package->name}, {"version", f.agent.package->version}, {"bin", f.agent.package->bin}};
  json j = {
      {"version", f.version},
      {"name", f.name},
      {"project_dir", f.project_dir.string()},
      {"agent", agent},
      {"image",
       {{"kind", to_string(f.image.kind)},
        {"ref", f.image.reference},
        {"digest", f.image.digest ? json(*f.image.digest) : json(nullptr)}}},
      {"resources",
       {{"cpus", f.resources.cpus}, {"memory_bytes", f.resources.memory_bytes}, {"disk_bytes", f.resources.disk_bytes}}},
      {"mounts", mounts},
      {"egress", {{"mode", to_string(f.egress.mode)}, {"allow", allow}, {"deny", deny}}},
      {"secrets", secrets},
  };
  // Outside "egress": the guest's CA bundle is part of the machine (a change reboots), not of the
  // rules the proxy hot-reloads. Only when set, so files without it keep their digests.
  if (f.egress.trust_host_ca) j["trust_host_ca"] = true;
  // Only when written, like trust_host_ca: a file without ports keeps the digest it had.
  if (!ports.empty()) j["ports"] = ports;
  if (!f.protect.empty()) j["protect"] = f.protect;  // only when written: older digests stay
  if (f.docker.enabled) {  // only when on: older digests stay
    j["docker"] = {{"enabled", true}};
    if (!f.docker.insecure_registries.empty()) j["docker"]["insecure_registries"] = f.docker.insecure_registries;
  }
  return j;
}

std::string digest(const Sandboxfile& f) { return sbx::digest::sha256(to_json(f).dump()); }

}  // namespace sbx::config
