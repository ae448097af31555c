#pragma once
// IP addresses and CIDR ranges for the SSRF defence: parsing (strict and resolver-loose),
// classification of addresses that must never be reached by default, and range matching.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sys/socket.h>

namespace sbx::proxy {

/// An IPv4 or IPv6 address; IPv4-mapped IPv6 (::ffff:a.b.c.d) is normalised to IPv4.
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4

  /// Parse an address literal. IPv4 accepts every form the C resolver accepts ("127.1",
  /// "0x7f.0.0.1", "2130706433") so that no spelling slips past the literal check.
  static std::optional<IpAddress> parse(std::string_view text);
  /// From a socket address (AF_INET or AF_INET6).
  static std::optional<IpAddress> from_sockaddr(const sockaddr* sa);
  /// Canonical text ("127.0.0.1", "2001:db8::1").
  std::string str() const;
  /// A socket address for connect(); returns its length.
  socklen_t to_sockaddr(std::uint16_t port, sockaddr_storage& out) const;
  bool operator==(const IpAddress&) const = default;
};

/// An address range such as "10.0.0.0/8" or "fc00::/7".
struct Cidr {
  IpAddress base;
  int prefix = 0;

  /// Parse "addr/len" or a bare address (a /32 or /128).
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& a) const;
};

/// The name of the special-purpose range `a` is in (loopback, private, link-local, metadata,
/// CGNAT, multicast, ...), or nullopt when it is an ordinary public address.
std::optional<std::string_view> special_range(const IpAddress& a);

}  // namespace sbx::proxy
