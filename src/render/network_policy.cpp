#include "render/network_policy.h"

#include <set>

#include "render/identity.h"

namespace sbx::render {

namespace {

using nlohmann::ordered_json;

// What the proxy's SSRF defence refuses, as NetworkPolicy excepts (each inside its ::/0 or 0/0).
constexpr std::string_view kPrivate4[] = {"0.0.0.0/8",      "10.0.0.0/8",   "100.64.0.0/10", "127.0.0.0/8",
                                          "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4",
                                          "240.0.0.0/4"};
constexpr std::string_view kPrivate6[] = {"::1/128", "fc00::/7", "fe80::/10", "ff00::/8"};

ordered_json port_list(const std::set<std::uint16_t>& ports) {
  ordered_json out = ordered_json::array();
  for (auto p : ports) out.push_back({{"protocol", "TCP"}, {"port", p}});
  return out;
}

ordered_json block(std::string_view cidr, std::span<const std::string_view> except) {
  ordered_json b = {{"cidr", std::string(cidr)}};
  b["except"] = ordered_json::array();
  for (auto e : except) b["except"].push_back(std::string(e));
  return {{"ipBlock", b}};
}

}  // namespace

ordered_json network_policy(const config::Sandboxfile& f) {
  std::set<std::uint16_t> ports;
  for (const auto& r : f.egress.allow) ports.insert(r.ports.begin(), r.ports.end());
  const bool learn = f.egress.mode == config::EgressMode::learn;

  ordered_json egress = ordered_json::array();
  egress.push_back({{"ports", {{{"protocol", "UDP"}, {"port", 53}}, {{"protocol", "TCP"}, {"port", 53}}}}});
  if (learn || !ports.empty()) {
    ordered_json rule = {{"to", {block("0.0.0.0/0", kPrivate4), block("::/0", kPrivate6)}}};
    if (!learn) rule["ports"] = port_list(ports);
    egress.push_back(std::move(rule));
  }
  // A CIDR allow rule lets the proxy reach that block (private ones included): let the pod too.
  for (const auto& r : f.egress.allow) {
    if (r.kind != config::HostPatternKind::cidr) continue;
    egress.push_back({{"to", {{{"ipBlock", {{"cidr", r.pattern}}}}}},
                      {"ports", port_list({r.ports.begin(), r.ports.end()})}});
  }
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", metadata(f, egress_config_name(f))},
          {"spec",
           {{"podSelector", {{"matchLabels", selector_labels(f)}}},
            {"policyTypes", {"Ingress", "Egress"}},
            {"ingress", ordered_json::array()},
            {"egress", egress}}}};
}

}  // namespace sbx::render
