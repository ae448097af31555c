// libFuzzer target: the proxy's request-head parser, response framer, chunked framer, authority
// splitter and ClientHello peek, on arbitrary bytes. Checks invariants, not just absence of crashes.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/http_parser.h"
#include "proxy/tls_sni.h"

using namespace sbx::proxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  for (TargetMode mode : {TargetMode::proxy, TargetMode::origin}) {
    RequestHead h;
    const HeadLimits limits{2048, 32};
    const auto r = parse_request_head(in, limits, mode, h);
    if (r.status == ParseResult::ok) {
      // A parsed head lies inside the input, and what it says is self-consistent.
      if (r.consumed > size) std::abort();
      if (h.body == BodyKind::chunked && h.content_length != 0) std::abort();
      if (h.headers.size() > limits.max_headers) std::abort();
      if (h.port == 0) std::abort();
      for (char c : h.host)
        if (c == '\r' || c == '\n' || c == ' ') std::abort();
      // Rebuilt heads never carry a line break inside a line.
      const std::string up = upstream_head(h, "authorization");
      if (up.find("\r\n\r\n") != std::string::npos) std::abort();
      // Hop-by-hop processing never removes what frames the body or names the host: the
      // upstream must see the same message boundaries the proxy used.
      std::string lup = up;
      for (char& c : lup) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (h.body == BodyKind::length && lup.find("\r\ncontent-length:") == std::string::npos) std::abort();
      if (h.body == BodyKind::chunked && lup.find("\r\ntransfer-encoding:") == std::string::npos) std::abort();
      if (!h.host_header.empty() && lup.find("\r\nhost:") == std::string::npos) std::abort();
      if (h.body == BodyKind::chunked) {
        ChunkedFramer f;
        size_t used = 0;
        f.feed(in.substr(r.consumed), used);
        if (used > size - r.consumed) std::abort();
      }
    } else if (r.status == ParseResult::error) {
      if (r.http_status < 400 || r.http_status > 599) std::abort();
    }
  }
  ChunkedFramer f;
  size_t used = 0;
  if (f.feed(in, used) != ChunkedFramer::more && used > size) std::abort();
  std::string host;
  bool v6 = false;
  std::uint16_t port = 0;
  split_authority(in.substr(0, 300), 80, host, v6, port);
  // The response framer, fed the same bytes in two pieces: it never takes more than it was
  // given, and passes on no more than it took.
  for (bool head : {false, true}) {
    ResponseFramer rf;
    rf.expect(head);
    const HeadLimits limits{2048, 32};
    std::string out;
    size_t taken = 0;
    const size_t half = size / 2;
    for (std::string_view piece : {in.substr(0, half), in.substr(half)}) {
      size_t used = 0;
      const auto s = rf.feed(piece, used, out, limits);
      if (used > piece.size()) std::abort();
      taken += used;
      if (s != ResponseFramer::more) break;
    }
    if (out.size() > taken) std::abort();
  }
  std::string sni;
  if (peek_client_hello(in, sni) == HelloStatus::sni && (sni.empty() || sni.size() > 255)) std::abort();
  return 0;
}
