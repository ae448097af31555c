#pragma once
// The rules of a [[port]] entry that need no toml++: the host side's "ADDRESS:PORT" syntax. The
// loader (loader.cpp) reads the table and calls these.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace sbx::config {

/// Where the host listens for one forwarded port.
struct HostEndpoint {
  std::string address;       // an IPv4 or IPv6 literal, normalised ("127.0.0.1", "::1")
  std::uint16_t port = 0;
};

/// The address a port is forwarded on when the Sandboxfile writes only a number.
inline constexpr std::string_view kDefaultPortAddress = "127.0.0.1";

/// Parse "ADDRESS:PORT" ("127.0.0.1:8080", "0.0.0.0:8080", "[::1]:8080"): an IP literal (no
/// host names: what is bound must be what was written) and a port 1..65535.
Result<HostEndpoint> parse_host_endpoint(std::string_view text);

/// Whether `address` (a normalised literal) is a loopback address: 127.0.0.0/8 or ::1.
bool is_loopback_address(std::string_view address);

/// "127.0.0.1:8080" or "[::1]:8080".
std::string endpoint_text(std::string_view address, std::uint16_t port);

}  // namespace sbx::config
