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
  std::string upgrade;              // the Upgrade header's value ("" when absent; at most one)
  bool connection_upgrade = false;  // Connection (or Proxy-Connection) lists the "upgrade" token
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

/// One parsed response head: what the proxy needs to find where the response ends.
struct ResponseHead {
  int minor_version = 1;
  int status = 0;
  BodyKind body = BodyKind::none;  // none, length or chunked; see until_close
  bool until_close = false;        // no framing: the body ends when the upstream closes
  std::uint64_t content_length = 0;
  bool keep_alive = true;          // the upstream may carry another request afterwards
  bool websocket = false;          // Upgrade is exactly "websocket" and Connection lists "upgrade"
};

/// Parse a response head at the start of `buf` (as strict as requests: duplicate or conflicting
/// Content-Length, Transfer-Encoding other than "chunked", CL with TE, obs-fold, bare CR/LF and
/// control bytes are errors). `head_request`: the request was HEAD (no body follows).
ParseResult parse_response_head(std::string_view buf, const HeadLimits& limits, bool head_request, ResponseHead& out);

/// Follows the responses on one upstream connection to find where each one ends, so a kept-alive
/// upstream is reused only at a response boundary and no byte is credited to the wrong request.
class ResponseFramer {
 public:
  enum Status { more, done, error, upgraded };
  /// A request was sent upstream: one final response (after any 1xx) is now due. With
  /// `websocket` (the request asked for a WebSocket upgrade) a 101 that switches to websocket
  /// ends the response with `upgraded`: the bytes after `used` belong to the new protocol.
  /// Any other 101 is an error.
  void expect(bool head_request, bool websocket = false);
  /// Consume bytes from `in` (`used` of them); the bytes to forward are appended to `out` (a head
  /// only once it is complete and valid). `done`: the response ended; bytes after `used` are not its.
  Status feed(std::string_view in, size_t& used, std::string& out, const HeadLimits& limits);
  /// The upstream closed: `done` if that ends the response (close-delimited body, or none due).
  Status eof();
  /// No response is due.
  bool idle() const { return state_ == State::idle; }
  /// Some byte of the current response was already handed out (too late for an error response).
  bool started() const { return started_; }
  /// The last response allows another request on this upstream.
  bool keep_alive() const { return keep_alive_; }
  /// The last response's body ended at the upstream's close.
  bool until_close() const { return until_close_; }
  /// The status of the last final (non-1xx) response head seen, 0 before one.
  int status() const { return status_; }
  /// Why `error` was returned (safe to show).
  const std::string& reason() const { return reason_; }

 private:
  enum class State { idle, head, length, chunked, close } state_ = State::idle;
  bool head_request_ = false, websocket_ = false, started_ = false, keep_alive_ = true, until_close_ = false;
  int status_ = 0;
  std::string head_;
  std::uint64_t left_ = 0;
  ChunkedFramer chunk_;
  std::string reason_;
};

/// Rebuild a head for the upstream: origin-form target, hop-by-hop headers removed (never
/// Content-Length, Transfer-Encoding or Host). With `websocket` (the caller checked the request
/// is a WebSocket upgrade) `Upgrade` is kept and `Connection: Upgrade` is sent. The head ends
/// with the last header line's CRLF: the caller adds the final one (after any injected headers).
std::string upstream_head(const RequestHead& h, std::string_view drop_header = {}, bool websocket = false);

}  // namespace sbx::proxy
