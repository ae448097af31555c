#pragma once
// Static reasoning about egress rules as sets of (host, port): whether one rule surely lies
// inside another, and whether two may share a host. Wildcards and regexes make both questions
// undecidable in general, so the answers lean to safety: contains() says yes only when it is
// sure, may_overlap() says no only when it is sure.
#include "config/sandboxfile.h"

namespace sbx::policy {

/// Whether every (host, port) `inner` matches is surely matched by `outer`.
bool contains(const config::EgressRule& outer, const config::EgressRule& inner);

/// Whether some (host, port) may be matched by both rules.
bool may_overlap(const config::EgressRule& a, const config::EgressRule& b);

/// Whether a CIDR rule is a single address (an IP literal: /32, /128).
bool is_ip_literal(const config::EgressRule& r);

/// Whether a CIDR rule reaches a special-purpose range (loopback, private, link-local and cloud
/// metadata, CGNAT, multicast, reserved, IPv6 unique-local, mapped IPv4); its name, else "".
std::string private_range_in(const config::EgressRule& r);

}  // namespace sbx::policy
