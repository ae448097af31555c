// The response-head parser and the response framer: where each upstream response ends.
#include <catch2/catch.hpp>

#include "proxy/http_parser.h"

using namespace sbx::proxy;

namespace {

// Feed `wire` to a framer expecting one response, `step` bytes at a time; returns the status,
// what it passed on and how many bytes it took.
ResponseFramer::Status run(const std::string& wire, bool head, size_t step, std::string& out, size_t& taken) {
  ResponseFramer f;
  f.expect(head);
  HeadLimits limits;
  taken = 0;
  out.clear();
  while (taken < wire.size()) {
    size_t used = 0;
    const auto s = f.feed(std::string_view(wire).substr(taken, step), used, out, limits);
    taken += used;
    if (s != ResponseFramer::more) return s;
  }
  return f.eof();
}

}  // namespace

TEST_CASE("the response framer ends each response at its framing, byte by byte or at once", "[proxy][http]") {
  const std::string next = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nX";
  const std::vector<std::pair<std::string, bool>> responses = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nTrailer: t\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", true},  // HEAD
      {"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", false},
      {"HTTP/1.1 304 Not Modified\r\n\r\n", false},
      {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
      {"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", false},  // no reason phrase
  };
  for (const auto& [resp, head] : responses) {
    for (size_t step : {size_t{1}, size_t{7}, size_t{100000}}) {
      INFO(resp << " step " << step);
      std::string out;
      size_t taken = 0;
      const auto s = run(resp + next, head, step, out, taken);
      CHECK(s == ResponseFramer::done);
      CHECK(taken == resp.size());
      CHECK(out == resp);
    }
  }
}

TEST_CASE("keep-alive and close-delimited bodies follow the response's version and Connection header", "[proxy][http]") {
  HeadLimits limits;
  ResponseHead h;
  REQUIRE(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", limits, false, h).status == ParseResult::ok);
  CHECK(h.keep_alive);
  REQUIRE(parse_response_head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", limits, false, h).status ==
          ParseResult::ok);
  CHECK_FALSE(h.keep_alive);
  REQUIRE(parse_response_head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", limits, false, h).status == ParseResult::ok);
  CHECK_FALSE(h.keep_alive);
  REQUIRE(parse_response_head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", limits, false, h)
              .status == ParseResult::ok);
  CHECK(h.keep_alive);
  REQUIRE(parse_response_head("HTTP/1.1 200 OK\r\n\r\n", limits, false, h).status == ParseResult::ok);
  CHECK(h.until_close);
  CHECK_FALSE(h.keep_alive);

  // A close-delimited body ends only at EOF, and everything before it belongs to it.
  ResponseFramer f;
  f.expect(false);
  std::string out;
  size_t used = 0;
  CHECK(f.feed("HTTP/1.1 200 OK\r\n\r\nabcHTTP/1.1 200 OK\r\n", used, out, limits) == ResponseFramer::more);
  CHECK(f.eof() == ResponseFramer::done);
  CHECK(f.until_close());
  CHECK(out == "HTTP/1.1 200 OK\r\n\r\nabcHTTP/1.1 200 OK\r\n");
}

TEST_CASE("malformed or ambiguous response heads are errors, not guesses", "[proxy][http]") {
  const std::vector<std::string> bad = {
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
      "HTTP/1.1 200 OK\nX: a\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n",
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 099 OK\r\n\r\n",
      "http/1.1 200 OK\r\n\r\n",
      "\r\nHTTP/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n",
  };
  HeadLimits limits;
  for (const auto& b : bad) {
    INFO(b);
    ResponseHead h;
    const auto r = parse_response_head(b, limits, false, h);
    CHECK(r.status == ParseResult::error);
    CHECK(r.http_status == 502);
    CHECK_FALSE(r.reason.empty());
  }
  ResponseHead h;
  CHECK(parse_response_head(std::string(limits.max_head_bytes + 10, 'a'), limits, false, h).status == ParseResult::error);
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (size_t i = 0; i <= limits.max_headers; ++i) many += "X: y\r\n";
  CHECK(parse_response_head(many + "\r\n", limits, false, h).status == ParseResult::error);
}

TEST_CASE("the response framer refuses bytes nobody asked for, 101 upgrades and truncated bodies", "[proxy][http]") {
  HeadLimits limits;
  std::string out;
  size_t used = 0;
  ResponseFramer idle;
  CHECK(idle.feed("HTTP/1.1 200 OK\r\n\r\n", used, out, limits) == ResponseFramer::error);
  CHECK(out.empty());

  ResponseFramer up;
  up.expect(false);
  CHECK(up.feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", used, out, limits) == ResponseFramer::error);

  ResponseFramer cut;
  cut.expect(false);
  out.clear();
  CHECK(cut.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", used, out, limits) == ResponseFramer::more);
  CHECK(cut.started());
  CHECK(cut.eof() == ResponseFramer::error);

  ResponseFramer none;
  none.expect(false);
  CHECK(none.eof() == ResponseFramer::error);
  CHECK_FALSE(none.started());

  ResponseFramer badchunk;
  badchunk.expect(false);
  out.clear();
  CHECK(badchunk.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", used, out, limits) ==
        ResponseFramer::error);
  CHECK(out == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab");
}

TEST_CASE("the response framer ends a WebSocket handshake's response at a 101 to websocket, and refuses any other 101",
          "[proxy][http][websocket]") {
  HeadLimits limits;
  const std::string ws101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  ResponseFramer f;
  f.expect(false, true);
  std::string out;
  size_t used = 0;
  const std::string in = "HTTP/1.1 100 Continue\r\n\r\n" + ws101 + "\x81\x02hi";
  CHECK(f.feed(in, used, out, limits) == ResponseFramer::upgraded);
  CHECK(out == "HTTP/1.1 100 Continue\r\n\r\n" + ws101);
  CHECK(in.substr(used) == "\x81\x02hi");  // the new protocol's bytes are not the response's
  CHECK(f.status() == 101);
  CHECK_FALSE(f.keep_alive());
  for (const std::string bad : {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
                                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                                "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"}) {
    INFO(bad);
    ResponseFramer g;
    g.expect(false, true);
    out.clear();
    CHECK(g.feed(bad, used, out, limits) == ResponseFramer::error);
    CHECK(out.empty());  // a refused 101 is never passed on
    CHECK_FALSE(g.started());
  }
  ResponseFramer plain;  // a switch nobody asked for
  plain.expect(false);
  out.clear();
  CHECK(plain.feed(ws101, used, out, limits) == ResponseFramer::error);
  CHECK(out.empty());
}
