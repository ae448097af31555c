#include "proxy/host_pins.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cstdlib>

#include "common/escape.h"
#include "proxy/rules.h"

namespace sbx::proxy {
namespace {

constexpr const char* kShape = "write name=addr[,addr...] entries separated by ';', e.g. "
                               "api.example.test=127.0.0.1;other.example.test=::1";

// An entry as it may be quoted back: escaped, and cut short (the text may be 8 KiB).
std::string shown(std::string_view s) {
  if (s.size() > 80) return "'" + text::escape_for_terminal(s.substr(0, 80)) + "...'";
  return "'" + text::escape_for_terminal(s) + "'";
}

// Dotted-quad IPv4 only (inet_pton: no "127.1", no hex, no leading zeros) or IPv6 (optionally
// in brackets, no zone id): a pin names the one address it means.
std::optional<IpAddress> strict_address(std::string_view s) {
  if (s.empty() || s.size() > 64) return std::nullopt;
  if (s.find(':') != std::string_view::npos) return IpAddress::parse(s);  // inet_pton(AF_INET6)
  const std::string z(s);
  in_addr in{};
  if (inet_pton(AF_INET, z.c_str(), &in) != 1) return std::nullopt;
  return IpAddress::parse(z);
}

}  // namespace

Result<std::vector<HostPin>> parse_host_pins(std::string_view text, std::string_view source) {
  const std::string where(source);
  std::vector<HostPin> pins;
  if (text.size() > kMaxPinsText)
    return fail(ErrorCode::usage, where + " is " + std::to_string(text.size()) + " bytes, more than the " +
                                      std::to_string(kMaxPinsText) + " a pin table may have",
                "pin only the few names a test or a split-DNS host needs");
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find(';', pos), text.size());
    const std::string_view entry = text.substr(pos, end - pos);
    pos = end + 1;
    if (entry.empty()) continue;
    for (const unsigned char c : entry)
      if (c <= ' ' || c >= 0x7f)
        return fail(ErrorCode::usage, where + ": entry " + shown(entry) + " holds a space, a control byte or a non-ASCII byte", kShape);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == entry.size())
      return fail(ErrorCode::usage, where + ": entry " + shown(entry) + " is not name=addr", kShape);
    HostPin pin;
    const std::string_view name = entry.substr(0, eq);
    if (!normalise_host(name, pin.name))
      return fail(ErrorCode::usage, where + ": " + shown(name) + " is not a host name",
                  "a pin names one DNS name: letters, digits, '-', '_' and '.', no wildcard, no port");
    if (IpAddress::parse(pin.name))
      return fail(ErrorCode::usage, where + ": " + shown(name) + " is an IP address, not a name",
                  "an IP address needs no pin: allow it with a CIDR rule in [egress]");
    for (const auto& p : pins)
      if (p.name == pin.name)
        return fail(ErrorCode::usage, where + ": " + shown(pin.name) + " is pinned twice",
                    "give one entry per name, its addresses separated by ','");
    std::string_view rest = entry.substr(eq + 1);
    for (;;) {
      const size_t comma = std::min(rest.find(','), rest.size());
      const std::string_view one = rest.substr(0, comma);
      auto ip = strict_address(one);
      if (!ip)
        return fail(ErrorCode::usage, where + ": " + shown(one) + " (for " + pin.name + ") is not an IP address",
                    "write dotted-quad IPv4 (127.0.0.1) or IPv6 (::1 or [::1]); names and short forms are refused");
      if (std::find(pin.addresses.begin(), pin.addresses.end(), *ip) != pin.addresses.end())
        return fail(ErrorCode::usage, where + ": " + ip->str() + " is listed twice for " + pin.name);
      if (pin.addresses.size() == kMaxPinAddresses)
        return fail(ErrorCode::usage, where + ": " + pin.name + " has more than " + std::to_string(kMaxPinAddresses) +
                                          " addresses");
      pin.addresses.push_back(*ip);
      if (comma == rest.size()) break;
      rest.remove_prefix(comma + 1);
    }
    if (pins.size() == kMaxPinnedNames)
      return fail(ErrorCode::usage, where + " pins more than " + std::to_string(kMaxPinnedNames) + " names",
                  "pin only the few names a test or a split-DNS host needs");
    pins.push_back(std::move(pin));
  }
  return pins;
}

Result<std::vector<HostPin>> host_pins_from_env() {
  const char* v = std::getenv(kHostPinsEnv);
  if (!v || !*v) return std::vector<HostPin>{};
  return parse_host_pins(v, kHostPinsEnv);
}

std::string host_pins_text(const std::vector<HostPin>& pins) {
  std::string out;
  for (const auto& p : pins) {
    if (!out.empty()) out += ';';
    out += p.name + '=';
    for (size_t i = 0; i < p.addresses.size(); ++i) out += (i ? "," : "") + p.addresses[i].str();
  }
  return out;
}

PinTable pin_table(const std::vector<HostPin>& pins) {
  PinTable t;
  for (const auto& p : pins) t[p.name] = p.addresses;
  return t;
}

}  // namespace sbx::proxy
