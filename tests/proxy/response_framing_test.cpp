// Plain-HTTP keep-alive against a scripted raw upstream on loopback: the proxy follows each
// response's framing (Content-Length, chunked, HEAD, 1xx, 204, close-delimited), so pipelined
// requests get their own responses, an upstream is reused only at a response boundary, and a
// response that breaks the framing (smuggling on the response side) gets a 502 or a close.
#include <catch2/catch.hpp>

#include <thread>

#include <unistd.h>

#include "test_support.h"

using namespace sbx::proxy;
using namespace sbx::proxy::test;
using namespace std::chrono_literals;

namespace {

sbx::config::Egress allow_hosts(std::uint16_t port) {
  sbx::config::Egress e;
  const auto ps = std::to_string(port);
  e.allow.push_back(rule("a.test:" + ps, 10));
  e.allow.push_back(rule("b.test:" + ps, 11));
  e.allow.push_back(rule("127.0.0.0/8:" + ps, 12));
  return e;
}

std::string get(const std::string& host, std::uint16_t port, const std::string& path, const std::string& method = "GET",
                const std::string& extra = "") {
  const auto a = host + ":" + std::to_string(port);
  return method + " http://" + a + path + " HTTP/1.1\r\nHost: " + a + "\r\n" + extra + "\r\n";
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
  return n;
}

std::vector<std::string> wait_lines(const std::filesystem::path& f, size_t n) {
  for (int i = 0; i < 100 && read_lines(f).size() < n; ++i) std::this_thread::sleep_for(20ms);
  return read_lines(f);
}

const std::string kChunked =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n";
const std::string kLength = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond";

}  // namespace

TEST_CASE("pipelined plain-HTTP requests each get their own response over one kept-alive upstream", "[proxy][e2e]") {
  TempDir dir;
  const auto log = dir.path / "up.log";
  RawUpstream up({{kChunked}, {"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"},  // HEAD: no body follows
                  {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"}, {kLength}},
                 log);
  RunningProxy px(allow_hosts(up.port), {"a.test=127.0.0.1"});
  const int fd = connect_local(px.port);
  REQUIRE(fd >= 0);
  // All four in one write: the proxy must send them one at a time and split the answers right.
  REQUIRE(send_all(fd, get("a.test", up.port, "/1") + get("a.test", up.port, "/2", "HEAD") +
                           get("a.test", up.port, "/3", "PUT", "Content-Length: 3\r\n") + "abc" +
                           get("a.test", up.port, "/4")));
  const auto got = recv_until(fd, "second", 5000);
  close(fd);
  CHECK(got == kChunked + "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n" +
                   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n" + kLength);
  const auto lines = wait_lines(log, 5);
  CHECK(lines == std::vector<std::string>{"conn 1", "1 GET /1", "1 HEAD /2", "1 PUT /3", "1 GET /4"});
}

TEST_CASE("a request to another host waits for the previous host's slow response", "[proxy][e2e]") {
  TempDir dir;
  const auto log = dir.path / "up.log";
  RawUpstream up({{"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow", 300}, {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast"}},
                 log);
  RunningProxy px(allow_hosts(up.port), {"a.test=127.0.0.1", "b.test=127.0.0.1"});
  const int fd = connect_local(px.port);
  REQUIRE(send_all(fd, get("a.test", up.port, "/a") + get("b.test", up.port, "/b")));
  const auto got = recv_until(fd, "fast", 5000);
  close(fd);
  CHECK(got == "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslowHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast");
  // b.test gets its own upstream, opened only after a.test's response ended.
  CHECK(wait_lines(log, 4) == std::vector<std::string>{"conn 1", "1 GET /a", "conn 2", "2 GET /b"});
}

TEST_CASE("a close-delimited response ends the client connection and nothing more goes to that upstream", "[proxy][e2e]") {
  TempDir dir;
  const auto log = dir.path / "up.log";
  RawUpstream up({{"HTTP/1.1 200 OK\r\n\r\nuntil-close", 0, true}, {kLength}}, log);
  RunningProxy px(allow_hosts(up.port), {"a.test=127.0.0.1"});
  const int fd = connect_local(px.port);
  REQUIRE(send_all(fd, get("a.test", up.port, "/1") + get("a.test", up.port, "/2")));
  const auto got = recv_all(fd, 5000);  // ends at the proxy's close
  close(fd);
  CHECK(got == "HTTP/1.1 200 OK\r\n\r\nuntil-close");
  CHECK(wait_lines(log, 3) == std::vector<std::string>{"conn 1", "1 GET /1", "close 1"});
}

TEST_CASE("bytes an upstream sends beyond its response are never forwarded and that upstream is not reused", "[proxy][e2e]") {
  TempDir dir;
  const auto log = dir.path / "up.log";
  const std::string smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil";
  RawUpstream up({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + smuggled}, {kLength}}, log);
  RunningProxy px(allow_hosts(up.port), {"a.test=127.0.0.1"});
  const int fd = connect_local(px.port);
  REQUIRE(send_all(fd, get("a.test", up.port, "/1")));
  CHECK(recv_until(fd, "ok", 5000) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  REQUIRE(send_all(fd, get("a.test", up.port, "/2")));
  const auto second = recv_until(fd, "second", 5000);
  close(fd);
  CHECK(second == kLength);
  CHECK(second.find("evil") == std::string::npos);
  const auto lines = wait_lines(log, 4);
  CHECK(lines == std::vector<std::string>{"conn 1", "1 GET /1", "conn 2", "2 GET /2"});
}

TEST_CASE("an upstream that closes an idle kept-alive connection is replaced for the next request", "[proxy][e2e]") {
  TempDir dir;
  const auto log = dir.path / "up.log";
  RawUpstream up({{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", 0, true}, {kLength}}, log);
  RunningProxy px(allow_hosts(up.port), {"a.test=127.0.0.1"});
  const int fd = connect_local(px.port);
  REQUIRE(send_all(fd, get("a.test", up.port, "/1")));
  CHECK(recv_until(fd, "first", 5000) == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
  // The upstream has closed (and its FIN is on the proxy's socket) before the next request.
  REQUIRE(wait_lines(log, 3) == std::vector<std::string>{"conn 1", "1 GET /1", "close 1"});
  REQUIRE(send_all(fd, get("a.test", up.port, "/2")));
  CHECK(recv_until(fd, "second", 5000) == kLength);
  close(fd);
  CHECK(wait_lines(log, 5) == std::vector<std::string>{"conn 1", "1 GET /1", "close 1", "conn 2", "2 GET /2"});
}

TEST_CASE("response-side smuggling (conflicting lengths, CL with TE, other codings, bad heads) gets a 502", "[proxy][e2e]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nok", "more than one Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "both Content-Length and Transfer-Encoding"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "other than 'chunked'"},
      {"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n", "obs-fold"},
      {"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "bare LF"},
      {"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", "status line"},
  };
  for (const auto& [response, reason] : cases) {
    TempDir dir;
    RawUpstream up({{response}}, dir.path / "up.log");
    RunningProxy px(allow_hosts(up.port), {"a.test=127.0.0.1"});
    const auto got = roundtrip(px.port, get("a.test", up.port, "/x"));
    INFO(response);
    CHECK(got.starts_with("HTTP/1.1 502 "));
    CHECK(got.find(reason) != std::string::npos);
    CHECK(got.find("\r\n\r\nok") == std::string::npos);
  }
}

TEST_CASE("a chunked response with a malformed chunk after its head is cut off, not passed on", "[proxy][e2e]") {
  TempDir dir;
  RawUpstream up({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirstXX0\r\n\r\nHTTP/1.1 200 OK\r\n"}},
                 dir.path / "up.log");
  RunningProxy px(allow_hosts(up.port), {"a.test=127.0.0.1"});
  const auto got = roundtrip(px.port, get("a.test", up.port, "/x") + get("a.test", up.port, "/y"));
  CHECK(got.starts_with("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst"));
  CHECK(got.find("XX") == std::string::npos);  // the bytes that broke the framing never reach the client
  CHECK(count(got, "HTTP/1.1") == 1);
}
