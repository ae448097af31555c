#pragma once
// Host pins: fixed addresses for a few names, like curl's --resolve, given on the host by
// SBX_EGRESS_RESOLVE="name=addr[,addr];name=addr". The proxy connects a pinned name to its
// pinned addresses instead of asking DNS; every other name still goes to the system resolver.
// A pinned address passes the same checks as a resolved one (loopback needs a CIDR rule).
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "proxy/address.h"

namespace sbx::proxy {

/// The environment variable `sbx up` and `sbx proxy` read the pins from.
inline constexpr const char* kHostPinsEnv = "SBX_EGRESS_RESOLVE";

/// Bounds on one pin table: a pin is host configuration, a few names, not a hosts file.
inline constexpr size_t kMaxPinnedNames = 64;
inline constexpr size_t kMaxPinAddresses = 16;
inline constexpr size_t kMaxPinsText = 8192;

/// One pinned name (normalised: lower case, no trailing dot) and its addresses, in order.
struct HostPin {
  std::string name;
  std::vector<IpAddress> addresses;
  bool operator==(const HostPin&) const = default;
};

/// Parse "name=addr[,addr...][;name=addr...]" strictly: names are DNS names (not IP literals,
/// no wildcards), addresses are dotted-quad IPv4 or IPv6 (brackets allowed, no zone ids, none of
/// the short IPv4 spellings), no whitespace, no name twice, no address twice for one name.
/// Empty entries (";;", a trailing ";") are skipped. `source` names where the text came from in
/// error messages (e.g. "SBX_EGRESS_RESOLVE").
Result<std::vector<HostPin>> parse_host_pins(std::string_view text, std::string_view source = kHostPinsEnv);

/// The pins in SBX_EGRESS_RESOLVE (none when it is unset or empty).
Result<std::vector<HostPin>> host_pins_from_env();

/// The canonical text of `pins` ("a.test=127.0.0.1,::1;b.test=..."); parse_host_pins reads it back.
std::string host_pins_text(const std::vector<HostPin>& pins);

/// Pins by name, for lookups.
using PinTable = std::unordered_map<std::string, std::vector<IpAddress>>;
PinTable pin_table(const std::vector<HostPin>& pins);

}  // namespace sbx::proxy
