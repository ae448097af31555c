#include "render/egress_config.h"

#include <cstdio>

#include "config/names.h"

namespace sbx::render {

namespace {

std::string rule_host(const config::EgressRule& r) {
  switch (r.kind) {
    case config::HostPatternKind::wildcard: return "*." + r.pattern;
    case config::HostPatternKind::regex: return "re:" + r.pattern;
    case config::HostPatternKind::exact:
    case config::HostPatternKind::cidr: break;
  }
  return r.pattern;
}

std::string rules(const std::vector<config::EgressRule>& list) {
  if (list.empty()) return "[]";
  std::string out = "[\n";
  for (const auto& r : list) {
    out += "  { host = " + toml_quote(rule_host(r)) + ", ports = [";
    for (size_t i = 0; i < r.ports.size(); ++i) out += (i ? ", " : "") + std::to_string(r.ports[i]);
    out += "] },\n";
  }
  return out + "]";
}

}  // namespace

std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string proxy_sandboxfile(const config::Sandboxfile& f) {
  std::string out =
      "# The egress rules of sandbox " + toml_quote(f.name) + " for its sbx proxy sidecar, rendered by\n"
      "# 'sbx render kubernetes' from the project's Sandboxfile (normalised: explicit ports).\n"
      "version = 1\nname = " + toml_quote(f.name) + "\n\n[egress]\nmode = " +
      toml_quote(config::to_string(f.egress.mode)) + "\nallow = " + rules(f.egress.allow) + "\ndeny = " +
      rules(f.egress.deny) + "\n";
  for (const auto& s : f.secrets) {
    if (s.inject != config::InjectKind::header) continue;
    out += "\n[[secret]]\nname = " + toml_quote(s.name) + "\nhosts = [";
    for (size_t i = 0; i < s.hosts.size(); ++i) out += (i ? ", " : "") + toml_quote(s.hosts[i]);
    out += "]\nheader = " + toml_quote(s.header) + "\ntemplate = " + toml_quote(s.value_template) + "\n";
  }
  return out;
}

}  // namespace sbx::render
