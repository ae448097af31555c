#pragma once
// A strict HTTP/1.x request-head parser and a chunked-body framer for the proxy. Anything
// ambiguous between two HTTP implementations (the stuff of request smuggling) is an error:
// duplicate or conflicting Content-Length, Transfer-Encoding other than "chunked", obs-fold,
// bare CR or LF, whitespace before a colon, control characters, oversized or too many headers.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::proxy {

/// Bounds applied while parsing.
struct HeadLimits {
  size_t max_head_bytes = 32 * 1024;
  size_t max_headers = 100;
};

/// Which request-target forms the caller accepts.
enum class TargetMode {
  proxy,   // CONNECT authority-form or absolute-form http:// (a client talking to a proxy)
  origin,  // origin-form only (inside an intercepted TLS tunnel)
};

enum class BodyKind { none, length, chunked };

/// One parsed request head.
struct RequestHead {
  std::string method;
  std::string target;  // as sent
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent, values trimmed
  bool connect = false;
  std::string host;  // lower case, brackets removed for IPv6
  bool host_is_ipv6 = false;
  std::uint16_t port = 0;
  std::string path;  // origin-form for the upstream ("/x?y")
  std::string host_header;  // the Host header's value ("" when absent)
  BodyKind body = BodyKind::none;
  std::uint64_t content_length = 0;
  bool keep_alive = true;
};

/// Result of a parse attempt.
struct ParseResult {
  enum Status { incomplete, ok, error } status = incomplete;
  size_t consumed = 0;      // bytes of the head including the final CRLFCRLF (ok only)
  int http_status = 400;    // error: the status to answer with
  std::string reason;       // error: why (safe to show; never contains header values)
};

/// Parse a request head at the start of `buf`.
ParseResult parse_request_head(std::string_view buf, const HeadLimits& limits, TargetMode mode, RequestHead& out);

/// Split "host:port" / "[v6]:port" / "host" (with `default_port`); false if malformed.
bool split_authority(std::string_view authority, std::uint16_t default_port, std::string& host, bool& ipv6,
                     std::uint16_t& port);

/// Tracks where a chunked body ends while its bytes pass through unchanged.
class ChunkedFramer {
 public:
  enum Status { more, done, error };
  /// Consume up to `data.size()` bytes; `used` is how many belong to the body.
  Status feed(std::string_view data, size_t& used);

 private:
  enum State { size, ext, size_lf, data, data_cr, data_lf, trailer_start, trailer_line, trailer_lf, final_lf } state_ = size;
  std::uint64_t remaining_ = 0;
  size_t digits_ = 0;
  size_t line_ = 0;
  size_t trailer_bytes_ = 0;
};

/// Rebuild a head for the upstream: origin-form target, hop-by-hop headers removed.
/// `extra` is appended verbatim before the final CRLF (e.g. injected headers).
std::string upstream_head(const RequestHead& h, std::string_view drop_header = {});

}  // namespace sbx::proxy
