#pragma once
// A small blocking HTTP(S) client over libcurl for the registry client: no automatic redirects
// (the caller decides, see registry_client.cpp), bounded bodies, bounded headers, timeouts.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace sbx::image::http {

/// The parts of an absolute http(s) URL.
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // host name or address, without brackets or port
  std::string port;    // "" when the URL has none
  /// host[:port] as written in references ("[::1]:5000" for IPv6).
  std::string authority() const;
};

/// Parse an absolute http(s) URL; anything else (file:, ftp:, garbage) is an error.
Result<Url> parse_url(std::string_view url);
/// Resolve `location` (absolute or relative, from a Location header) against `base`.
Result<std::string> resolve_url(std::string_view base, std::string_view location);
/// Whether a bare host (no port, no brackets) is "localhost", a 127.0.0.0/8 address or ::1.
bool is_loopback(std::string_view host);
/// Percent-encode a query parameter value.
std::string url_encode(std::string_view value);

/// One request.
struct Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  /// When set, a 2xx body is streamed here (an error aborts the transfer); else it is buffered.
  std::function<Result<void>(std::string_view)> sink;
  /// Largest buffered body (2xx without a sink, and every non-2xx body).
  std::uint64_t max_body = 4u << 20;
  /// Whole-transfer limit in seconds; 0 for none (blobs rely on the stall limit instead).
  long total_timeout_s = 60;
};

/// One response (redirects are returned, not followed).
struct Response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  /// The first header named `name` (lower case), if any.
  std::optional<std::string> header(std::string_view name) const;
  /// Every header named `name` (lower case).
  std::vector<std::string> headers_named(std::string_view name) const;
};

/// Perform one request; transport failures (DNS, connect, TLS, timeouts) are runtime errors.
Result<Response> perform(const Request& request);

}  // namespace sbx::image::http
