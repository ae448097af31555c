#include "supervisor/launch.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "config/port_rules.h"

namespace sbx::supervisor {
using nlohmann::json;

std::string launch_to_json(const Launch& l) {
  const auto& m = l.machine;
  json disks = json::array(), shares = json::array(), channels = json::array();
  for (const auto& d : m.disks) {
    json disk = {{"path", d.path.string()}, {"read_only", d.read_only}};
    if (!d.serial.empty()) disk["serial"] = d.serial;
    disks.push_back(disk);
  }
  for (const auto& s : m.shares)
    shares.push_back({{"tag", s.tag}, {"socket", s.socket.string()}, {"source", s.source.string()}, {"read_only", s.read_only},
                      {"cache", vmm::share_cache_name(s.cache)}, {"protect", s.protect}});
  for (const auto& c : m.channels) channels.push_back({{"name", c.name}, {"socket", c.socket.string()}});
  json j = {
      {"name", l.name},
      {"digest", l.digest},
      {"boot_timeout_ms", l.boot_timeout_ms},
      {"machine",
       {{"name", m.name},
        {"kernel", m.kernel.string()},
        {"initramfs", m.initramfs.string()},
        {"cmdline", m.cmdline},
        {"memory_bytes", m.memory_bytes},
        {"cpus", m.cpus},
        {"disks", disks},
        {"shares", shares},
        {"channels", channels},
        {"console_log", m.console_log.string()},
        {"runtime_dir", m.runtime_dir.string()}}},
      // The guest CONFIG is kept in its wire form: the protocol library validates it.
      {"guest_config", json::parse(guest::protocol::to_json(l.guest_config))},
  };
  if (!l.env_secrets.empty()) {
    json env = json::array();
    for (const auto& e : l.env_secrets) env.push_back({{"secret", e.secret}, {"env", e.env}});
    j["env_secrets"] = env;
  }
  if (!l.ports.empty()) {
    json ports = json::array();
    for (const auto& p : l.ports) ports.push_back({{"address", p.address}, {"host_port", p.host_port}, {"guest_port", p.guest_port}});
    j["ports"] = ports;
  }
  if (!l.host_ca_pem.empty()) j["host_ca"] = l.host_ca_pem;
  if (l.egress.enabled) {
    j["egress"] = {{"sandboxfile", l.egress.sandboxfile}, {"project_dir", l.egress.project_dir},
                   {"snapshot", l.egress.snapshot}, {"digest", l.egress.digest}, {"trust_ca", l.egress.trust_ca}};
    if (!l.egress.pins.empty()) j["egress"]["resolve"] = proxy::host_pins_text(l.egress.pins);
    if (const auto& p = l.egress.policies)
      j["egress"]["policy_sources"] = {{"system_config", p->system_config}, {"user_policies", p->user_policies}, {"path", p->path}};
  }
  return j.dump(2) + "\n";
}

Result<Launch> launch_from_json(std::string_view text, const std::string& display_name) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(ErrorCode::invalid, display_name + " is not valid JSON", "run 'sbx up' again to rewrite it");
  try {
    Launch l;
    l.name = j.at("name").get<std::string>();
    l.digest = j.at("digest").get<std::string>();
    l.boot_timeout_ms = j.at("boot_timeout_ms").get<int>();
    const auto& m = j.at("machine");
    l.machine.name = m.at("name").get<std::string>();
    l.machine.kernel = m.at("kernel").get<std::string>();
    l.machine.initramfs = m.at("initramfs").get<std::string>();
    l.machine.cmdline = m.at("cmdline").get<std::string>();
    l.machine.memory_bytes = m.at("memory_bytes").get<std::uint64_t>();
    l.machine.cpus = m.at("cpus").get<unsigned>();
    for (const auto& d : m.at("disks")) {
      vmm::Disk disk{d.at("path").get<std::string>(), d.at("read_only").get<bool>(), d.value("serial", std::string())};
      // virtio-blk serials are at most 20 bytes; only plain characters reach QEMU's option string.
      if (disk.serial.size() > 20 || disk.serial.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
        return fail(ErrorCode::invalid, display_name + ": disk " + disk.path.string() + ": invalid serial",
                    "run 'sbx up' again to rewrite it");
      l.machine.disks.push_back(std::move(disk));
    }
    for (const auto& s : m.at("shares")) {
      vmm::Share share{s.at("tag").get<std::string>(), s.at("socket").get<std::string>(), s.at("source").get<std::string>(),
                       s.at("read_only").get<bool>()};
      // Written by sbx, read by the supervisor: still, only a known policy reaches virtiofsd.
      const std::string cache = s.value("cache", std::string("auto"));
      bool known = false;
      for (vmm::ShareCache c : {vmm::ShareCache::auto_, vmm::ShareCache::always}) {
        if (cache != vmm::share_cache_name(c)) continue;
        share.cache = c;
        known = true;
      }
      if (!known)
        return fail(ErrorCode::invalid, display_name + ": share " + share.tag + ": unknown cache policy '" + cache + "'",
                    "run 'sbx up' again to rewrite it");
      share.protect = s.value("protect", std::vector<std::string>{});
      l.machine.shares.push_back(std::move(share));
    }
    for (const auto& c : m.at("channels")) l.machine.channels.push_back({c.at("name").get<std::string>(), c.at("socket").get<std::string>()});
    l.machine.console_log = m.at("console_log").get<std::string>();
    l.machine.runtime_dir = m.at("runtime_dir").get<std::string>();
    auto cfg = guest::protocol::parse_config(j.at("guest_config").dump());
    if (!cfg) return fail(ErrorCode::invalid, display_name + ": guest_config: " + cfg.error().message);
    l.guest_config = std::move(*cfg);
    if (j.contains("env_secrets"))
      for (const auto& e : j.at("env_secrets"))
        l.env_secrets.push_back({e.at("secret").get<std::string>(), e.at("env").get<std::string>()});
    if (j.contains("ports"))
      for (const auto& p : j.at("ports")) {
        const int host = p.at("host_port").get<int>(), guest = p.at("guest_port").get<int>();
        PortLaunch port{p.at("address").get<std::string>(), static_cast<std::uint16_t>(host), static_cast<std::uint16_t>(guest)};
        // Only a literal address and real ports reach bind(): the file is sbx's, the check is cheap.
        auto ok = config::parse_host_endpoint(config::endpoint_text(port.address, port.host_port));
        if (!ok || ok->address != port.address || host < 1 || host > 65535 || guest < 1 || guest > 65535)
          return fail(ErrorCode::invalid, display_name + ": invalid port " + port.address + ":" + std::to_string(port.host_port),
                      "run 'sbx up' again to rewrite it");
        l.ports.push_back(std::move(port));
      }
    if (j.contains("host_ca")) l.host_ca_pem = j.at("host_ca").get<std::string>();
    if (j.contains("egress")) {
      const auto& e = j.at("egress");
      l.egress.enabled = true;
      l.egress.sandboxfile = e.at("sandboxfile").get<std::string>();
      l.egress.project_dir = e.at("project_dir").get<std::string>();
      l.egress.snapshot = e.at("snapshot").get<std::string>();
      l.egress.digest = e.at("digest").get<std::string>();
      l.egress.trust_ca = e.at("trust_ca").get<bool>();
      if (e.contains("resolve")) {
        // Parsed as strictly as the variable it came from.
        auto pins = proxy::parse_host_pins(e.at("resolve").get<std::string>(), display_name + ": egress.resolve");
        if (!pins) return fail(ErrorCode::invalid, pins.error().message, "run 'sbx up' again to rewrite it");
        l.egress.pins = std::move(*pins);
      }
      if (e.contains("policy_sources")) {
        const auto& p = e.at("policy_sources");
        l.egress.policies = PolicySourcesLaunch{p.at("system_config").get<std::string>(), p.at("user_policies").get<std::string>(),
                                                p.at("path").get<std::vector<std::string>>()};
      }
    }
    return l;
  } catch (const json::exception& e) {
    return fail(ErrorCode::invalid, display_name + ": " + e.what(), "run 'sbx up' again to rewrite it");
  }
}

Result<std::string> read_small_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(ErrorCode::not_found, "cannot read " + file.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace sbx::supervisor
