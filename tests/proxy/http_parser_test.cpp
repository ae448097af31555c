// Unit tests for the request half of the parser and the chunked framer (src/proxy/http_parser.*);
// the response half is in http_response_test.cpp.
#include <catch2/catch.hpp>

#include "proxy/http_parser.h"

using namespace sbx::proxy;

TEST_CASE("the request parser accepts proper proxy requests", "[proxy]") {
  RequestHead h;
  auto r = parse_request_head("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n", {}, TargetMode::proxy, h);
  REQUIRE(r.status == ParseResult::ok);
  CHECK(h.connect);
  CHECK(h.host == "api.example.com");
  CHECK(h.port == 443);
  const std::string get = "GET http://Example.com:8080/a?b HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 3\r\n\r\n";
  r = parse_request_head(get + "abc", {}, TargetMode::proxy, h);
  REQUIRE(r.status == ParseResult::ok);
  CHECK(r.consumed == get.size());
  CHECK(h.host == "example.com");
  CHECK(h.port == 8080);
  CHECK(h.path == "/a?b");
  CHECK(h.body == BodyKind::length);
  CHECK(h.content_length == 3);
  r = parse_request_head("CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n", {}, TargetMode::proxy, h);
  REQUIRE(r.status == ParseResult::ok);
  CHECK(h.host == "::1");
  CHECK(h.host_is_ipv6);
  CHECK(parse_request_head("GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\n", {}, TargetMode::proxy, h).status ==
        ParseResult::incomplete);
  const auto up = upstream_head(h);
  CHECK(up.starts_with("CONNECT"));
}

TEST_CASE("the request parser rejects smuggling and malformed heads with 400", "[proxy]") {
  const std::string ok_start = "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\n";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {ok_start + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", "Content-Length"},
      {ok_start + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", "Content-Length"},
      {ok_start + "Content-Length: 5, 5\r\n\r\n", "Content-Length"},
      {ok_start + "Content-Length: +5\r\n\r\n", "Content-Length"},
      {ok_start + "Transfer-Encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding"},
      {ok_start + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", "both"},
      {ok_start + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding"},
      {ok_start + "X-A: 1\r\n  folded\r\n\r\n", "obs-fold"},
      {ok_start + "X-A: 1\rX-B: 2\r\n\r\n", "bare CR"},
      {ok_start + "X-A: 1\nX-B: 2\r\n\r\n", "bare LF"},
      {ok_start + "Content-Length : 5\r\n\r\n", "header name"},
      {ok_start + "X-A: a\x01" "b\r\n\r\n", "control"},
      {"POST http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n", "Host header"},
      {"GET /relative HTTP/1.1\r\nHost: a.test\r\n\r\n", "absolute"},
      {"GET https://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "CONNECT"},
      {"GET http://user@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "user"},
      {"GET  http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "request line"},
      {"GET http://a.test/ HTTP/1.1\r\n\r\n", "Host"},
      {"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n", "Host"},
      {"CONNECT a.test HTTP/1.1\r\nHost: a.test\r\n\r\n", "host:port"},
      {"CONNECT a.test:0 HTTP/1.1\r\nHost: a.test\r\n\r\n", "host:port"},
      {"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\n\r\n", "body"},
      {"GET http://a.test/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.0"},
  };
  for (const auto& [req, why] : bad) {
    RequestHead h;
    auto r = parse_request_head(req, {}, TargetMode::proxy, h);
    INFO(req);
    CHECK(r.status == ParseResult::error);
    CHECK(r.http_status == 400);
    CHECK(r.reason.find(why) != std::string::npos);
  }
  RequestHead h;
  CHECK(parse_request_head("GET http://a.test/ HTTP/2.0\r\nHost: a.test\r\n\r\n", {}, TargetMode::proxy, h).http_status == 505);
  HeadLimits small{256, 4};
  std::string many = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n";
  for (int i = 0; i < 5; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  CHECK(parse_request_head(many + "\r\n", small, TargetMode::proxy, h).http_status == 431);
  CHECK(parse_request_head("GET http://a.test/" + std::string(300, 'a'), small, TargetMode::proxy, h).http_status == 431);
}

TEST_CASE("a Connection header naming a framing header or Host is a 400, in both target modes", "[proxy][security]") {
  // Hop-by-hop processing would drop the named header while the proxy framed the body by it:
  // the body would reach the upstream as a second request nobody checked.
  const std::vector<std::pair<std::string, TargetMode>> starts = {
      {"POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\n", TargetMode::proxy},
      {"POST /x HTTP/1.1\r\nHost: a.test\r\n", TargetMode::origin}};
  for (const auto& [start, mode] : starts)
    for (const std::string conn : {"Connection: Content-Length", "Connection: keep-alive, content-length",
                                   "Connection: Transfer-Encoding", "Connection: close,  HOST ",
                                   "Proxy-Connection: Content-Length"}) {
      const std::string req = start + conn + "\r\nContent-Length: 5\r\n\r\nGET /";
      RequestHead h;
      const auto r = parse_request_head(req, {}, mode, h);
      INFO(req);
      CHECK(r.status == ParseResult::error);
      CHECK(r.http_status == 400);
      CHECK(r.reason.find("Connection header names") != std::string::npos);
    }
  // Other names stay hop-by-hop and are removed; the framing headers never are.
  RequestHead h;
  REQUIRE(parse_request_head("POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nConnection: X-Drop\r\nX-Drop: 1\r\n"
                             "X-Keep: 2\r\nContent-Length: 5\r\n\r\n",
                             {}, TargetMode::proxy, h)
              .status == ParseResult::ok);
  const auto up = upstream_head(h);
  CHECK(up.find("X-Drop") == std::string::npos);
  CHECK(up.find("X-Keep: 2\r\n") != std::string::npos);
  CHECK(up.find("Content-Length: 5\r\n") != std::string::npos);
  CHECK(up.find("Host: a.test\r\n") != std::string::npos);
  // Even a head built by hand (not through the parser) keeps them.
  RequestHead forged = h;
  forged.headers.emplace_back("Connection", "content-length, host, transfer-encoding");
  const auto up2 = upstream_head(forged, "content-length");
  CHECK(up2.find("Content-Length: 5\r\n") != std::string::npos);
  CHECK(up2.find("Host: a.test\r\n") != std::string::npos);
}

TEST_CASE("the chunked framer finds the end of a body and rejects malformed chunks", "[proxy]") {
  ChunkedFramer f;
  size_t used = 0;
  const std::string body = "5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\nNEXT";
  CHECK(f.feed(body, used) == ChunkedFramer::done);
  CHECK(body.substr(used) == "NEXT");
  ChunkedFramer g;
  size_t u2 = 0;
  CHECK(g.feed("5\r\nhel", u2) == ChunkedFramer::more);
  CHECK(g.feed("lo\r\n0\r\n\r\n", u2) == ChunkedFramer::done);
  for (const char* bad : {"zz\r\n", "5\nhello", "5\r\nhelloX\r\n", "-1\r\n", "1111111111111111\r\n"}) {
    ChunkedFramer h;
    size_t u = 0;
    INFO(bad);
    CHECK(h.feed(bad, u) == ChunkedFramer::error);
  }
}

TEST_CASE("a WebSocket handshake keeps Upgrade and Connection: Upgrade, and any other Upgrade is hop-by-hop",
          "[proxy][websocket]") {
  RequestHead h;
  REQUIRE(parse_request_head("GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, Upgrade, X-Drop\r\n"
                             "Upgrade: websocket\r\nX-Drop: 1\r\nSec-WebSocket-Key: k\r\n\r\n",
                             {}, TargetMode::origin, h)
              .status == ParseResult::ok);
  CHECK(h.upgrade == "websocket");
  CHECK(h.connection_upgrade);
  const auto ws = upstream_head(h, {}, true);
  CHECK(ws.find("Upgrade: websocket\r\n") != std::string::npos);
  CHECK(ws.find("Connection: Upgrade\r\n") != std::string::npos);
  CHECK(ws.find("keep-alive") == std::string::npos);
  CHECK(ws.find("X-Drop") == std::string::npos);
  CHECK(ws.find("Sec-WebSocket-Key: k\r\n") != std::string::npos);
  const auto plain = upstream_head(h);
  CHECK(plain.find("Upgrade") == std::string::npos);
  CHECK(plain.find("Connection") == std::string::npos);
  // Two Upgrade headers: one side could read a list, the other the last one.
  CHECK(parse_request_head("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n\r\n",
                           {}, TargetMode::origin, h)
            .status == ParseResult::error);
}
