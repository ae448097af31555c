#include "proxy/address.h"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

namespace sbx::proxy {
namespace {

IpAddress v4(std::uint32_t host_order) {
  IpAddress a;
  a.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes[3] = static_cast<std::uint8_t>(host_order);
  return a;
}

// ::ffff:a.b.c.d and the deprecated IPv4-compatible ::a.b.c.d both reach an IPv4 host.
IpAddress normalise(IpAddress a) {
  if (!a.v6) return a;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes.data(), kMapped, 12) == 0) {
    IpAddress out;
    std::memcpy(out.bytes.data(), a.bytes.data() + 12, 4);
    return out;
  }
  return a;
}

struct Range {
  bool v6;
  std::array<std::uint8_t, 16> base;
  int prefix;
  std::string_view name;
};

bool prefix_match(const std::uint8_t* a, const std::uint8_t* b, int prefix) {
  const int full = prefix / 8;
  if (std::memcmp(a, b, static_cast<size_t>(full)) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

const Range kSpecial[] = {
    {false, {0}, 8, "0.0.0.0/8 (this network)"},
    {false, {10}, 8, "10.0.0.0/8 (private, RFC 1918)"},
    {false, {100, 64}, 10, "100.64.0.0/10 (carrier-grade NAT)"},
    {false, {127}, 8, "127.0.0.0/8 (loopback)"},
    {false, {169, 254, 169, 254}, 32, "169.254.169.254 (cloud metadata, link-local)"},
    {false, {169, 254}, 16, "169.254.0.0/16 (link-local)"},
    {false, {172, 16}, 12, "172.16.0.0/12 (private, RFC 1918)"},
    {false, {192, 0, 0}, 24, "192.0.0.0/24 (IETF protocol assignments)"},
    {false, {192, 0, 2}, 24, "192.0.2.0/24 (documentation)"},
    {false, {192, 88, 99}, 24, "192.88.99.0/24 (6to4 relay)"},
    {false, {192, 168}, 16, "192.168.0.0/16 (private, RFC 1918)"},
    {false, {198, 18}, 15, "198.18.0.0/15 (benchmarking)"},
    {false, {198, 51, 100}, 24, "198.51.100.0/24 (documentation)"},
    {false, {203, 0, 113}, 24, "203.0.113.0/24 (documentation)"},
    {false, {224}, 4, "224.0.0.0/4 (multicast)"},
    {false, {240}, 4, "240.0.0.0/4 (reserved, broadcast)"},
    {true, {}, 128, "::/128 (unspecified)"},
    {true, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "::1/128 (IPv6 loopback)"},
    {true, {}, 96, "::/96 (IPv4-compatible)"},
    {true, {0, 0x64, 0xff, 0x9b}, 96, "64:ff9b::/96 (NAT64)"},
    {true, {0, 0x64, 0xff, 0x9b, 0, 1}, 48, "64:ff9b:1::/48 (local NAT64)"},
    {true, {0x01, 0x00}, 64, "100::/64 (discard)"},
    {true, {0x20, 0x01, 0x0d, 0xb8}, 32, "2001:db8::/32 (documentation)"},
    {true, {0x20, 0x02}, 16, "2002::/16 (6to4)"},
    {true, {0xfc}, 7, "fc00::/7 (IPv6 unique local)"},
    {true, {0xfe, 0x80}, 10, "fe80::/10 (IPv6 link-local)"},
    {true, {0xfe, 0xc0}, 10, "fec0::/10 (IPv6 site-local)"},
    {true, {0xff}, 8, "ff00::/8 (IPv6 multicast)"},
};

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  if (s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  IpAddress a;
  if (s.find(':') != std::string::npos) {
    if (s.find('%') != std::string::npos) return std::nullopt;  // no zone ids
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.v6 = true;
    return normalise(a);
  }
  in_addr in{};
  // inet_aton is what getaddrinfo falls back to: "127.1" and "0x7f000001" are loopback too.
  if (inet_aton(s.c_str(), &in) == 0) return std::nullopt;
  return v4(ntohl(in.s_addr));
}

std::optional<IpAddress> IpAddress::from_sockaddr(const sockaddr* sa) {
  IpAddress a;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return v4(ntohl(in->sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    a.v6 = true;
    std::memcpy(a.bytes.data(), &in6->sin6_addr, 16);
    return normalise(a);
  }
  return std::nullopt;
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

socklen_t IpAddress::to_sockaddr(std::uint16_t port, sockaddr_storage& out) const {
  std::memset(&out, 0, sizeof out);
  if (v6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, bytes.data(), 16);
    return sizeof(sockaddr_in6);
  }
  auto* in = reinterpret_cast<sockaddr_in*>(&out);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  std::memcpy(&in->sin_addr, bytes.data(), 4);
  return sizeof(sockaddr_in);
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto addr_text = text.substr(0, slash);
  // Strict here: a rule is written by a person, so only canonical dotted quads or IPv6.
  std::string s(addr_text);
  IpAddress a;
  if (s.find(':') != std::string::npos) {
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.v6 = true;
  } else if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) {
    return std::nullopt;
  }
  const int max = a.v6 ? 128 : 32;
  int prefix = max;
  if (slash != std::string_view::npos) {
    const auto p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    prefix = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return std::nullopt;
      prefix = prefix * 10 + (c - '0');
    }
    if (prefix > max) return std::nullopt;
  }
  // "::ffff:10.0.0.0/104" is the same range as "10.0.0.0/8".
  if (a.v6 && prefix >= 96) {
    const IpAddress n = normalise(a);
    if (!n.v6) return Cidr{n, prefix - 96};
  }
  return Cidr{a, prefix};
}

bool Cidr::contains(const IpAddress& a) const {
  if (a.v6 != base.v6) return false;
  return prefix_match(a.bytes.data(), base.bytes.data(), prefix);
}

std::optional<std::string_view> special_range(const IpAddress& a) {
  for (const Range& r : kSpecial)
    if (r.v6 == a.v6 && prefix_match(a.bytes.data(), r.base.data(), r.prefix)) return r.name;
  return std::nullopt;
}

}  // namespace sbx::proxy
