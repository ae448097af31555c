// sbx keeps its own strict HTTP/1.1 parser on purpose: its strictness is the point. A lenient
// parser (one that accepts obs-fold, bare LF, duplicate or conflicting framing headers, ...)
// could read a message's length differently from the upstream it talks to, and every such
// disagreement is a request-smuggling hole. So anything ambiguous is refused, requests and
// responses alike, by one header-field loop. Heads are parsed here; where a message's body ends
// (ResponseFramer, ChunkedFramer) is http_framing.cpp.
#include "proxy/http_parser.h"

#include <algorithm>
#include <cstring>

#include "common/text.h"
#include "proxy/http_chars.h"

namespace sbx::proxy {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

ParseResult err(int status, std::string reason) {
  ParseResult r;
  r.status = ParseResult::error;
  r.http_status = status;
  r.reason = std::move(reason);
  return r;
}

// Calls f(token) for each comma-separated token of a header value, trimmed.
template <class F>
void each_token(std::string_view v, F&& f) {
  size_t start = 0;
  while (start <= v.size()) {
    size_t end = v.find(',', start);
    if (end == std::string_view::npos) end = v.size();
    auto t = v.substr(start, end - start);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (!t.empty()) f(t);
    start = end + 1;
  }
}

// Headers that decide where a message ends or where it goes. A Connection header may name
// them, but hop-by-hop processing must never remove them: a proxy that framed the body by a
// Content-Length it then dropped would hand the upstream a second, unchecked request.
bool framing_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "host");
}

bool hop_by_hop(std::string_view name) {
  static constexpr std::string_view kHop[] = {"connection", "proxy-connection", "keep-alive", "proxy-authorization",
                                              "proxy-authenticate", "te", "trailer", "upgrade"};
  for (auto h : kHop)
    if (iequals(name, h)) return true;
  return false;
}

// How one side's header fields are judged: the same rules for requests and responses, each with
// its own status (400 for the client, 502 for an upstream) and wording.
struct FieldRules {
  int status;
  const char* empty_line;
  const char* obs_fold;
  const char* bad_line;
  const char* bad_name;
  const char* bad_value;
  const char* too_many;  // "more than N" + this
  const char* two_lengths;
  const char* bad_length;
  const char* two_codings;
  const char* bad_coding;
  bool requests;  // Host is counted, Proxy-Connection is a Connection header, fields are kept
};

constexpr FieldRules kRequestFields{
    400,
    "malformed header section",
    "obsolete line folding (obs-fold) is not accepted",
    "malformed header line",
    "invalid character in a header name (whitespace before ':' is not accepted)",
    "control character in a header value",
    " header fields",
    "more than one Content-Length header",
    "invalid Content-Length",
    "more than one Transfer-Encoding header",
    "Transfer-Encoding other than 'chunked' is not accepted",
    true};

constexpr FieldRules kResponseFields{
    502,
    "malformed response header section",
    "obsolete line folding (obs-fold) in the response",
    "malformed response header line",
    "invalid character in a response header name",
    "control character in a response header value",
    " response header fields",
    "more than one Content-Length in the response",
    "invalid Content-Length in the response",
    "more than one Transfer-Encoding in the response",
    "response Transfer-Encoding other than 'chunked'",
    false};

// What the header fields of one message said about its framing.
struct Fields {
  int n_cl = 0, n_te = 0, n_host = 0, n_upgrade = 0;
  std::uint64_t content_length = 0;
  bool close = false, keep_alive_token = false, upgrade_token = false;
  std::string host_header, upgrade;
};

// Parse the header lines of `head` from `pos` (each line ends CRLF). Requests keep the fields
// in `kept`. A Content-Length is at most 18 digits, so it never overflows.
ParseResult parse_fields(std::string_view head, size_t pos, const HeadLimits& limits, const FieldRules& rules,
                         Fields& f, std::vector<std::pair<std::string, std::string>>* kept) {
  size_t count = 0;
  while (pos < head.size()) {
    auto next = head.find("\r\n", pos);
    const std::string_view h = head.substr(pos, next - pos);
    pos = next + 2;
    if (h.empty()) return err(rules.status, rules.empty_line);
    if (h[0] == ' ' || h[0] == '\t') return err(rules.status, rules.obs_fold);
    const auto colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return err(rules.status, rules.bad_line);
    const auto name = h.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
      return err(rules.status, rules.bad_name);
    auto value = h.substr(colon + 1);
    if (!std::all_of(value.begin(), value.end(), [](char c) { return is_value_char(static_cast<unsigned char>(c)); }))
      return err(rules.status, rules.bad_value);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (++count > limits.max_headers)
      return err(rules.requests ? 431 : rules.status, "more than " + std::to_string(limits.max_headers) + rules.too_many);
    if (iequals(name, "content-length")) {
      if (++f.n_cl > 1) return err(rules.status, rules.two_lengths);
      const auto length = value.size() > 18 ? std::nullopt : text::parse_uint(value);
      if (!length) return err(rules.status, rules.bad_length);
      f.content_length = *length;
    } else if (iequals(name, "transfer-encoding")) {
      if (++f.n_te > 1) return err(rules.status, rules.two_codings);
      if (!iequals(value, "chunked")) return err(rules.status, rules.bad_coding);
    } else if (rules.requests && iequals(name, "host")) {
      if (++f.n_host > 1) return err(400, "more than one Host header");
      f.host_header = std::string(value);
    } else if (iequals(name, "upgrade")) {
      // Two Upgrade headers could be read as a list by one side and as the last by the other.
      if (++f.n_upgrade > 1)
        return err(rules.status, rules.requests ? "more than one Upgrade header" : "more than one Upgrade header in the response");
      f.upgrade = std::string(value);
    } else if (iequals(name, "connection") || (rules.requests && iequals(name, "proxy-connection"))) {
      std::string_view framing;
      each_token(value, [&](std::string_view t) {
        if (iequals(t, "close")) f.close = true;
        if (iequals(t, "keep-alive")) f.keep_alive_token = true;
        if (iequals(t, "upgrade")) f.upgrade_token = true;
        if (framing.empty() && framing_header(t)) framing = t;
      });
      if (!framing.empty()) {
        if (!rules.requests) return err(rules.status, "the response's Connection header names a framing header");
        return err(400, "the Connection header names " + lower(framing) +
                            ", which frames the request or names its host and is never hop-by-hop");
      }
    }
    if (kept) kept->emplace_back(std::string(name), std::string(value));
  }
  return ParseResult{ParseResult::ok};
}

}  // namespace

bool split_authority(std::string_view a, std::uint16_t default_port, std::string& host, bool& ipv6,
                     std::uint16_t& port) {
  ipv6 = false;
  std::string_view h, p;
  if (a.starts_with('[')) {
    const auto close = a.find(']');
    if (close == std::string_view::npos) return false;
    h = a.substr(1, close - 1);
    ipv6 = true;
    auto rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      p = rest.substr(1);
      if (p.empty()) return false;
    }
  } else {
    const auto colon = a.rfind(':');
    if (colon != std::string_view::npos) {
      if (a.find(':') != colon) return false;  // bare IPv6 without brackets
      h = a.substr(0, colon);
      p = a.substr(colon + 1);
      if (p.empty()) return false;
    } else {
      h = a;
    }
  }
  if (h.empty() || h.size() > 253) return false;
  for (unsigned char c : h)
    if (c <= 0x20 || c >= 0x7f || c == '@' || c == '/' || c == '\\' || c == '?' || c == '#' || c == '%' ||
        (!ipv6 && (c == '[' || c == ']')))
      return false;
  if (p.empty()) {
    if (default_port == 0) return false;
    port = default_port;
  } else {
    if (p.size() > 5) return false;
    unsigned v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return false;
    port = static_cast<std::uint16_t>(v);
  }
  host = lower(h);
  return true;
}

ParseResult parse_request_head(std::string_view buf, const HeadLimits& limits, TargetMode mode, RequestHead& out) {
  // Tolerate empty lines before a request (RFC 9112 2.2), e.g. after a POST body.
  size_t skip = 0;
  while (buf.size() >= skip + 2 && buf[skip] == '\r' && buf[skip + 1] == '\n' && skip < 8) skip += 2;
  const std::string_view view = buf.substr(skip, std::min(buf.size() - skip, limits.max_head_bytes));
  // Bare CR or LF anywhere in what we have is fatal at once: no waiting for more.
  size_t end = std::string_view::npos;
  for (size_t i = 0; i < view.size(); ++i) {
    const char c = view[i];
    if (c == '\r') {
      if (i + 1 == view.size()) break;
      if (view[i + 1] != '\n') return err(400, "bare CR in the request head");
    } else if (c == '\n') {
      if (i == 0 || view[i - 1] != '\r') return err(400, "bare LF in the request head (lines must end in CRLF)");
      if (i >= 3 && view[i - 2] == '\n' && view[i - 3] == '\r') {
        end = i + 1;
        break;
      }
    }
  }
  if (end == std::string_view::npos) {
    if (buf.size() - skip >= limits.max_head_bytes)
      return err(431, "the request head is larger than " + std::to_string(limits.max_head_bytes) + " bytes");
    return ParseResult{};
  }
  out = RequestHead{};
  const std::string_view head = view.substr(0, end - 2);  // lines, each ending CRLF
  size_t pos = head.find("\r\n");
  const std::string_view line = head.substr(0, pos);
  pos += 2;

  // Request line: METHOD SP target SP HTTP/1.x, single spaces only.
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return err(400, "malformed request line");
  const auto method = line.substr(0, sp1);
  const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto version = line.substr(sp2 + 1);
  if (method.empty() || method.size() > 32 || !std::all_of(method.begin(), method.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
    return err(400, "malformed method");
  if (target.empty() || !std::all_of(target.begin(), target.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
      }))
    return err(400, "malformed request target");
  if (version == "HTTP/1.1") out.minor_version = 1;
  else if (version == "HTTP/1.0") out.minor_version = 0;
  else if (version.starts_with("HTTP/")) return err(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  else return err(400, "malformed HTTP version");
  out.method = std::string(method);
  out.target = std::string(target);

  Fields f;
  if (const auto r = parse_fields(head, pos, limits, kRequestFields, f, &out.headers); r.status == ParseResult::error)
    return r;
  const int n_cl = f.n_cl, n_te = f.n_te, n_host = f.n_host;
  out.host_header = std::move(f.host_header);
  if (n_cl) {
    out.content_length = f.content_length;
    out.body = BodyKind::length;
  }
  if (n_te) {
    if (n_cl) return err(400, "both Content-Length and Transfer-Encoding");
    if (out.minor_version == 0) return err(400, "Transfer-Encoding in an HTTP/1.0 request");
    out.body = BodyKind::chunked;
  }
  if (out.body == BodyKind::length && out.content_length == 0) out.body = BodyKind::none;
  if (out.minor_version == 1 && n_host == 0) return err(400, "HTTP/1.1 request without a Host header");
  out.keep_alive = out.minor_version == 1 ? !f.close : (f.keep_alive_token && !f.close);
  out.upgrade = std::move(f.upgrade);
  out.connection_upgrade = f.upgrade_token;

  if (method == "CONNECT") {
    if (mode != TargetMode::proxy) return err(400, "CONNECT inside a tunnel");
    if (out.body != BodyKind::none) return err(400, "CONNECT with a request body");
    if (!split_authority(target, 0, out.host, out.host_is_ipv6, out.port))
      return err(400, "CONNECT target must be host:port");
    out.connect = true;
  } else if (mode == TargetMode::proxy) {
    if (target.size() >= 8 && iequals(target.substr(0, 8), "https://"))
      return err(400, "https:// URLs go through CONNECT, not as plain requests");
    if (target.size() < 7 || !iequals(target.substr(0, 7), "http://"))
      return err(400, "a proxy request needs an absolute http:// URL");
    auto rest = target.substr(7);
    const auto slash = rest.find_first_of("/?");
    const auto authority = rest.substr(0, slash);
    if (authority.find('@') != std::string_view::npos) return err(400, "user information in the URL is not accepted");
    if (!split_authority(authority, 80, out.host, out.host_is_ipv6, out.port)) return err(400, "malformed URL authority");
    out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (out.path.front() == '?') out.path.insert(out.path.begin(), '/');
    if (out.path.find('#') != std::string::npos) return err(400, "fragment in the request target");
    if (n_host) {
      std::string hh;
      bool v6 = false;
      std::uint16_t hp = 0;
      if (!split_authority(out.host_header, 80, hh, v6, hp) || hh != out.host || hp != out.port)
        return err(400, "the Host header does not match the URL");
    }
  } else {
    if (target != "*" && target.front() != '/') return err(400, "request target must be origin-form (/path)");
    if (target == "*" && method != "OPTIONS") return err(400, "'*' target only for OPTIONS");
    if (target.find('#') != std::string_view::npos) return err(400, "fragment in the request target");
    out.path = std::string(target);
    if (!n_host || !split_authority(out.host_header, 443, out.host, out.host_is_ipv6, out.port))
      return err(400, "missing or malformed Host header");
  }
  ParseResult r;
  r.status = ParseResult::ok;
  r.consumed = skip + end;
  return r;
}

ParseResult parse_response_head(std::string_view buf, const HeadLimits& limits, bool head_request, ResponseHead& out) {
  const std::string_view view = buf.substr(0, std::min(buf.size(), limits.max_head_bytes));
  size_t end = std::string_view::npos;
  for (size_t i = 0; i < view.size(); ++i) {
    const char c = view[i];
    if (c == '\r') {
      if (i + 1 == view.size()) break;
      if (view[i + 1] != '\n') return err(502, "bare CR in the response head");
    } else if (c == '\n') {
      if (i == 0 || view[i - 1] != '\r') return err(502, "bare LF in the response head");
      if (i >= 3 && view[i - 2] == '\n' && view[i - 3] == '\r') {
        end = i + 1;
        break;
      }
    }
  }
  if (end == std::string_view::npos) {
    if (buf.size() >= limits.max_head_bytes)
      return err(502, "the response head is larger than " + std::to_string(limits.max_head_bytes) + " bytes");
    return ParseResult{};
  }
  out = ResponseHead{};
  const std::string_view head = view.substr(0, end - 2);
  size_t pos = head.find("\r\n");
  const std::string_view line = head.substr(0, pos);
  pos += 2;
  // Status line: HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
      !std::all_of(line.begin() + 9, line.begin() + 12, [](char c) { return c >= '0' && c <= '9'; }) ||
      (line.size() > 12 && line[12] != ' '))
    return err(502, "malformed status line from the upstream");
  if (!std::all_of(line.begin() + 12, line.end(), [](char c) { return is_value_char(static_cast<unsigned char>(c)); }))
    return err(502, "control character in the upstream's status line");
  out.minor_version = line[7] - '0';
  out.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (out.status < 100) return err(502, "malformed status code from the upstream");

  Fields f;
  if (const auto r = parse_fields(head, pos, limits, kResponseFields, f, nullptr); r.status == ParseResult::error)
    return r;
  const int n_cl = f.n_cl, n_te = f.n_te;
  out.content_length = f.content_length;
  if (n_te && n_cl) return err(502, "both Content-Length and Transfer-Encoding in the response");
  if (n_te && out.minor_version == 0) return err(502, "Transfer-Encoding in an HTTP/1.0 response");
  out.keep_alive = out.minor_version == 1 ? !f.close : (f.keep_alive_token && !f.close);
  out.websocket = f.upgrade_token && iequals(f.upgrade, "websocket");
  // RFC 9112 6.3: HEAD, 1xx, 204 and 304 have no body whatever the headers say.
  if (head_request || out.status < 200 || out.status == 204 || out.status == 304) out.body = BodyKind::none;
  else if (n_te) out.body = BodyKind::chunked;
  else if (n_cl) out.body = out.content_length ? BodyKind::length : BodyKind::none;
  else {
    out.until_close = true;
    out.keep_alive = false;
  }
  ParseResult r;
  r.status = ParseResult::ok;
  r.consumed = end;
  return r;
}

std::string upstream_head(const RequestHead& h, std::string_view drop_header, bool websocket) {
  std::vector<std::string> named;  // headers the client listed in Connection: also hop-by-hop
  for (const auto& [n, v] : h.headers)
    if (iequals(n, "connection") || iequals(n, "proxy-connection"))
      each_token(v, [&](std::string_view t) {
        // The parser refuses framing headers here; never drop them. Upgrade stays for a WebSocket.
        if (!framing_header(t) && !(websocket && iequals(t, "upgrade"))) named.push_back(lower(t));
      });
  std::string out;
  out.reserve(256 + h.headers.size() * 40);
  out += h.method;
  out += ' ';
  out += h.path;
  out += h.minor_version == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n";
  for (const auto& [n, v] : h.headers) {
    if (hop_by_hop(n) && !(websocket && iequals(n, "upgrade"))) continue;
    if (!drop_header.empty() && iequals(n, drop_header) && !framing_header(n)) continue;
    if (std::find(named.begin(), named.end(), lower(n)) != named.end()) continue;
    out += n;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  if (websocket) out += "Connection: Upgrade\r\n";
  else if (!h.keep_alive) out += "Connection: close\r\n";
  else if (h.minor_version == 0) out += "Connection: keep-alive\r\n";
  return out;
}

}  // namespace sbx::proxy
