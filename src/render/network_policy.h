#pragma once
// The NetworkPolicy of a sandbox's pod: defence in depth under the proxy, which decides by name.
#include <nlohmann/json.hpp>

#include "config/sandboxfile.h"

namespace sbx::render {

/// Egress to DNS (port 53, any address: the cluster resolver is private) and to public
/// addresses only: RFC 1918, loopback, link-local (cloud metadata), CGNAT, IPv6 local ranges
/// are excepted unless a CIDR allow rule names them. Public egress is limited to the allow
/// rules' ports (every port in learn mode). All ingress is refused.
nlohmann::ordered_json network_policy(const config::Sandboxfile& file);

}  // namespace sbx::render
