#include "config/port_rules.h"

#include <arpa/inet.h>
#include <charconv>
#include <netinet/in.h>

namespace sbx::config {

namespace {
constexpr std::string_view kHint =
    "write host = 8080 (on 127.0.0.1), or an address and a port: host = \"127.0.0.1:8080\", \"[::1]:8080\", "
    "\"0.0.0.0:8080\" (every interface: reachable from other machines)";
}  // namespace

Result<HostEndpoint> parse_host_endpoint(std::string_view text) {
  const auto bad = [&](std::string why) {
    return fail(ErrorCode::invalid, "invalid host endpoint '" + std::string(text.substr(0, 64)) + "': " + why, std::string(kHint));
  };
  if (text.size() > 64) return bad("too long");
  std::string_view addr, port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("an IPv6 address is written [ADDRESS]:PORT");
    addr = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("expected ADDRESS:PORT");
    addr = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (addr.find(':') != std::string_view::npos) return bad("an IPv6 address is written [ADDRESS]:PORT");
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535)
    return bad("the port must be a number from 1 to 65535");
  const std::string a(addr);
  char out[INET6_ADDRSTRLEN] = {0};
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, a.c_str(), &v4) == 1) ::inet_ntop(AF_INET, &v4, out, sizeof out);
  else if (::inet_pton(AF_INET6, a.c_str(), &v6) == 1) ::inet_ntop(AF_INET6, &v6, out, sizeof out);
  else return bad("the address must be an IPv4 or IPv6 literal (no host names)");
  return HostEndpoint{out, static_cast<std::uint16_t>(value)};
}

bool is_loopback_address(std::string_view address) { return address.starts_with("127.") || address == "::1"; }

std::string endpoint_text(std::string_view address, std::uint16_t port) {
  const std::string a(address);
  return (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" + std::to_string(port);
}

}  // namespace sbx::config
