#include "config/egress_rule.h"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cstring>

#include <re2/re2.h>
#include <re2/set.h>
#include <unordered_set>

#include "common/text.h"

namespace sbx::config {

namespace {

constexpr size_t kMaxPatternBytes = 1024;
constexpr std::string_view kHostHint =
    "write an exact host (\"api.github.com\"), a wildcard (\"*.npmjs.org\"), a pattern (\"re:^api[0-9]+\\\\.example\\\\.com$\"), "
    "or an IP/CIDR (\"10.0.0.0/8\"), optionally followed by \":443\" or \":80,443\"";

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// Empty when `host` (already lower case, no trailing dot) is a valid DNS name; else why not.
std::string hostname_problem(std::string_view host) {
  if (host.empty()) return "the host is empty";
  if (host.size() > 253) return "the host is longer than 253 characters";
  size_t start = 0;
  bool all_numeric = true;
  while (true) {
    const size_t dot = host.find('.', start);
    const std::string_view label = host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!valid_label(label)) {
      if (label.empty()) return "the host has an empty label (two dots in a row, or a leading dot)";
      if (label.find('*') != std::string_view::npos)
        return "'*' is allowed only as the whole first label, as in \"*.example.com\"";
      return "'" + std::string(label) + "' is not a valid host label (letters, digits, '-' and '_', at most 63, not starting or ending with '-')";
    }
    if (!std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; })) all_numeric = false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (all_numeric) return "the host looks like an IP address but is not a valid one";
  return {};
}

struct Address {
  int family = 0;  // AF_INET or AF_INET6
  std::array<unsigned char, 16> bytes{};
};

bool parse_address(std::string_view text, Address& out) {
  if (text.size() > 64) return false;
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET6;
    return true;
  }
  return false;
}

std::string address_text(const Address& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(a.family, a.bytes.data(), buf, sizeof buf);
  return buf;
}

int address_bits(const Address& a) { return a.family == AF_INET ? 32 : 128; }

// Clear every bit after `prefix`; returns true when some were set.
bool mask_host_bits(Address& a, int prefix) {
  bool had = false;
  const int bits = address_bits(a);
  for (int bit = prefix; bit < bits; ++bit) {
    unsigned char& byte = a.bytes[static_cast<size_t>(bit / 8)];
    const unsigned char mask = static_cast<unsigned char>(0x80u >> (bit % 8));
    if (byte & mask) had = true;
    byte = static_cast<unsigned char>(byte & ~mask);
  }
  return had;
}

Result<EgressRule> parse_cidr(std::string_view text) {
  const size_t slash = text.find('/');
  Address addr;
  if (!parse_address(text.substr(0, slash), addr))
    return fail(ErrorCode::invalid, "'" + std::string(text.substr(0, slash)) + "' is not an IPv4 or IPv6 address",
                "a CIDR block is an address and a prefix length, e.g. \"10.0.0.0/8\" or \"fd00::/8\"");
  const std::string_view len = text.substr(slash + 1);
  int prefix = 0;
  if (len.empty() || len.size() > 3 || !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return fail(ErrorCode::invalid, "the prefix length '" + std::string(len) + "' is not a number",
                "write the prefix length after '/', e.g. \"10.0.0.0/8\"");
  for (char c : len) prefix = prefix * 10 + (c - '0');
  if (prefix > address_bits(addr))
    return fail(ErrorCode::invalid, "prefix length /" + std::to_string(prefix) + " is longer than the address (" +
                                        std::to_string(address_bits(addr)) + " bits)",
                "IPv4 prefixes go up to /32, IPv6 up to /128");
  Address masked = addr;
  if (mask_host_bits(masked, prefix))
    return fail(ErrorCode::invalid, "'" + std::string(text) + "' has bits set after the prefix",
                "did you mean \"" + address_text(masked) + "/" + std::to_string(prefix) + "\"?");
  EgressRule rule;
  rule.kind = HostPatternKind::cidr;
  rule.pattern = address_text(addr) + "/" + std::to_string(prefix);
  return rule;
}

}  // namespace

std::string normalise_host(std::string_view host) {
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  if (out.size() > 1 && out.back() == '.') out.pop_back();
  return out;
}

Result<EgressRule> parse_host_pattern(std::string_view host) {
  EgressRule rule;
  if (host.starts_with("re:")) {
    const std::string_view pattern = host.substr(3);
    if (pattern.empty()) return fail(ErrorCode::invalid, "the 're:' pattern is empty", std::string(kHostHint));
    if (pattern.size() > kMaxPatternBytes)
      return fail(ErrorCode::invalid, "the 're:' pattern is longer than " + std::to_string(kMaxPatternBytes) + " bytes",
                  "split it into several rules");
    RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(1 << 20);  // one host pattern needs far less; a blow-up is an error, not a slow path
    const RE2 re(re2::StringPiece(pattern.data(), pattern.size()), options);
    if (!re.ok())
      return fail(ErrorCode::invalid, "invalid RE2 pattern: " + re.error(),
                  "the pattern after 're:' is RE2 syntax matched against the whole lower-case host, e.g. \"re:^api[0-9]+\\\\.example\\\\.com$\"");
    rule.kind = HostPatternKind::regex;
    rule.pattern = std::string(pattern);
    return rule;
  }
  std::string h = normalise_host(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.find('/') != std::string::npos) return parse_cidr(h);
  if (Address a; parse_address(h, a)) {
    rule.kind = HostPatternKind::cidr;
    rule.pattern = address_text(a) + "/" + std::to_string(address_bits(a));
    return rule;
  }
  if (h == "*")
    return fail(ErrorCode::invalid, "'*' alone would allow every host",
                "name the hosts; to discover what an agent needs, use mode = \"learn\"; to allow everything explicitly, write \"re:.+\"");
  if (h.starts_with("*.")) {
    const std::string rest = h.substr(2);
    if (std::string why = hostname_problem(rest); !why.empty())
      return fail(ErrorCode::invalid, why, std::string(kHostHint));
    rule.kind = HostPatternKind::wildcard;
    rule.pattern = rest;
    return rule;
  }
  if (std::string why = hostname_problem(h); !why.empty())
    return fail(ErrorCode::invalid, why, std::string(kHostHint));
  rule.kind = HostPatternKind::exact;
  rule.pattern = h;
  return rule;
}

Result<std::vector<std::uint16_t>> parse_port_list(std::string_view text) {
  std::vector<std::uint16_t> ports;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string_view p = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    unsigned long value = 0;
    if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return fail(ErrorCode::invalid, "'" + std::string(p) + "' is not a port number",
                  "ports are whole numbers from 1 to 65535, separated by commas: \":443\" or \":80,443\"");
    for (char c : p) value = value * 10 + static_cast<unsigned long>(c - '0');
    if (value < 1 || value > 65535)
      return fail(ErrorCode::invalid, "port " + std::string(p) + " is out of range", "ports are 1 to 65535");
    ports.push_back(static_cast<std::uint16_t>(value));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  return ports;
}

Result<EgressRule> parse_egress_rule(std::string_view text) {
  std::string_view host = text;
  std::string_view ports;
  if (!text.starts_with("re:")) {
    // "[v6]:port", "host:port", or a bare IPv6 address/CIDR (more than one ':', no port).
    if (text.starts_with("[")) {
      const size_t close = text.find(']');
      if (close == std::string_view::npos)
        return fail(ErrorCode::invalid, "missing ']' after the IPv6 address", "write \"[2001:db8::1]:443\"");
      host = text.substr(0, close + 1);
      const std::string_view rest = text.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':')
          return fail(ErrorCode::invalid, "unexpected text after ']'", "write \"[2001:db8::1]:443\"");
        ports = rest.substr(1);
        if (ports.empty()) return fail(ErrorCode::invalid, "missing port after ':'", "write \"[2001:db8::1]:443\"");
      }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
      const size_t colon = text.find(':');
      host = text.substr(0, colon);
      ports = text.substr(colon + 1);
      if (ports.empty()) return fail(ErrorCode::invalid, "missing port after ':'", "write \"host:443\" or just \"host\" for ports 80 and 443");
    }
  }
  EgressRule rule = SBX_TRY(parse_host_pattern(host));
  if (!ports.empty()) rule.ports = SBX_TRY(parse_port_list(ports));
  else rule.ports.assign(std::begin(kDefaultPorts), std::end(kDefaultPorts));
  rule.text = std::string(text);
  return rule;
}

bool host_matches(const EgressRule& rule, std::string_view host) {
  const std::string h = normalise_host(host);
  switch (rule.kind) {
    case HostPatternKind::exact:
      return h == rule.pattern;
    case HostPatternKind::wildcard:
      return h.size() > rule.pattern.size() + 1 && h.ends_with(rule.pattern) &&
             h[h.size() - rule.pattern.size() - 1] == '.';
    case HostPatternKind::regex: {
      RE2::Options options;
      options.set_log_errors(false);
      const RE2 re(rule.pattern, options);
      return re.ok() && RE2::FullMatch(h, re);
    }
    case HostPatternKind::cidr: {
      Address a;
      std::string bare = h;
      if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
      if (!parse_address(bare, a)) return false;
      const size_t slash = rule.pattern.find('/');
      Address net;
      if (!parse_address(std::string_view(rule.pattern).substr(0, slash), net) || net.family != a.family) return false;
      const auto prefix = text::parse_uint(std::string_view(rule.pattern).substr(slash + 1), 0, 128);
      if (!prefix) return false;
      mask_host_bits(a, static_cast<int>(*prefix));
      return a.bytes == net.bytes;
    }
  }
  return false;
}

struct HostMatcher::Impl {
  std::unordered_set<std::string> exact;
  std::unordered_set<std::string> wildcard;  // the part after "*."
  std::vector<EgressRule> cidrs;
  std::unique_ptr<RE2::Set> regexes;
  std::vector<EgressRule> regex_fallback;    // when the set cannot compile within its memory bound
};

HostMatcher::HostMatcher(const std::vector<EgressRule>& rules) : impl_(std::make_unique<Impl>()) {
  RE2::Options options;
  options.set_log_errors(false);
  // Size the set's memory from the rule count (the 8 MiB default fails past ~2000 patterns).
  size_t n_regex = 0;
  for (const auto& r : rules) n_regex += r.kind == HostPatternKind::regex;
  options.set_max_mem(static_cast<int64_t>(std::min<size_t>(8 + n_regex / 64, 512)) << 20);
  auto set = std::make_unique<RE2::Set>(options, RE2::ANCHOR_BOTH);
  bool set_ok = true;
  for (const auto& r : rules) {
    switch (r.kind) {
      case HostPatternKind::exact: impl_->exact.insert(r.pattern); break;
      case HostPatternKind::wildcard: impl_->wildcard.insert(r.pattern); break;
      case HostPatternKind::cidr: impl_->cidrs.push_back(r); break;
      case HostPatternKind::regex:
        impl_->regex_fallback.push_back(r);
        if (set->Add(r.pattern, nullptr) < 0) set_ok = false;
        break;
    }
  }
  if (set_ok && n_regex > 0 && set->Compile()) {
    impl_->regexes = std::move(set);
    impl_->regex_fallback.clear();
  }
}

HostMatcher::~HostMatcher() = default;

bool HostMatcher::matches(std::string_view host) const {
  const std::string h = normalise_host(host);
  if (impl_->exact.contains(h)) return true;
  for (size_t dot = h.find('.'); dot != std::string::npos; dot = h.find('.', dot + 1))
    if (impl_->wildcard.contains(h.substr(dot + 1))) return true;
  if (impl_->regexes) {
    std::vector<int> hits;
    if (impl_->regexes->Match(h, &hits)) return true;
  }
  for (const auto& r : impl_->regex_fallback)
    if (host_matches(r, h)) return true;
  for (const auto& r : impl_->cidrs)
    if (host_matches(r, h)) return true;
  return false;
}

}  // namespace sbx::config
