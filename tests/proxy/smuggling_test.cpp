// Request smuggling end to end, against the real proxy and scripted upstreams on loopback: a
// Connection header that names a framing header (or Host) is refused before anything goes
// upstream, on plain HTTP and inside intercepted (secret header) tunnels; intercepted responses
// are framed like plain ones; every request in a tunnel is decided and logged on its own.
#include <catch2/catch.hpp>

#include <fstream>
#include <thread>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "test_support.h"

using namespace sbx::proxy;
using namespace sbx::proxy::test;
using namespace std::chrono_literals;

namespace {

const std::string kSecret = "s3cr3t-Smuggle-41c7";

sbx::config::Egress allow_all(std::uint16_t port) {
  sbx::config::Egress e;
  const auto ps = std::to_string(port);
  e.allow.push_back(rule("secret.test:" + ps, 10));
  e.allow.push_back(rule("a.test:" + ps, 11));
  e.allow.push_back(rule("127.0.0.0/8:" + ps, 12));
  return e;
}

std::vector<sbx::config::Secret> api_token() {
  sbx::config::Secret s;
  s.name = "api-token";
  s.hosts = {"secret.test"};
  s.header = "Authorization";
  s.value_template = "Bearer {}";
  return {s};
}

// Options for an intercepting proxy: its CA in `dir`/state, upstreams verified with the test CA.
ProxyOptions intercepting(const TempDir& dir, std::string secret = kSecret) {
  ProxyOptions opt;
  std::filesystem::create_directories(dir.path / "state");
  opt.state_dir = dir.path / "state";
  opt.upstream_ca_bundle = Pki::get().ca_crt;
  opt.egress_log = dir.path / "egress.jsonl";
  opt.secrets = fixed_secret(std::move(secret));
  return opt;
}

// Until the proxy holds no client connection (intercepted ones included), at most 5 s.
void wait_idle(const RunningProxy& px) {
  for (int i = 0; i < 250 && px.proxy->stats().active != 0; ++i) std::this_thread::sleep_for(20ms);
  CHECK(px.proxy->stats().active == 0);
}

// A body that an upstream would read as a second request if the proxy dropped the framing
// header its Connection header names; the second request asks for another virtual host.
const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: evil.test\r\nX-Swallow: ";

struct Variant {
  std::string connection, framing, body;
};

std::vector<Variant> variants() {
  const auto len = std::to_string(kSmuggled.size());
  char size_hex[16];
  std::snprintf(size_hex, sizeof size_hex, "%zx", kSmuggled.size());
  return {
      {"Connection: Content-Length", "Content-Length: " + len, kSmuggled},
      {"Connection: keep-alive, Transfer-Encoding", "Transfer-Encoding: chunked",
       std::string(size_hex) + "\r\n" + kSmuggled + "\r\n0\r\n\r\n"},
      {"Connection: Host", "Content-Length: " + len, kSmuggled},
  };
}

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

}  // namespace

TEST_CASE("plain HTTP: a Connection header naming Content-Length, Transfer-Encoding or Host is a 400 and nothing goes upstream",
          "[proxy][e2e][security]") {
  for (const auto& v : variants()) {
    INFO(v.connection);
    TempDir dir;
    RawUpstream up({{kOk}, {kOk}, {kOk}}, dir.path / "up.log", dir.path / "heads.log");
    RunningProxy px(allow_all(up.port), {"a.test=127.0.0.1"});
    const auto a = "a.test:" + std::to_string(up.port);
    const auto r = roundtrip(px.port, "POST http://" + a + "/first HTTP/1.1\r\nHost: " + a + "\r\n" + v.connection +
                                          "\r\n" + v.framing + "\r\n\r\n" + v.body + "GET http://" + a +
                                          "/next HTTP/1.1\r\nHost: " + a + "\r\n\r\n");
    CHECK(r.starts_with("HTTP/1.1 400"));
    CHECK(r.find("Connection header names") != std::string::npos);
    wait_idle(px);  // the proxy has retired the connection: it sends nothing more upstream for it
    CHECK(read_lines(dir.path / "up.log").empty());
    CHECK(slurp(dir.path / "heads.log").find("evil.test") == std::string::npos);
  }
}

TEST_CASE("plain HTTP: each request on a kept-alive connection is decided and logged for its own host",
          "[proxy][e2e][security]") {
  TempDir dir;
  RawUpstream up({{kOk}, {kOk}}, dir.path / "up.log");
  ProxyOptions opt;
  opt.egress_log = dir.path / "egress.jsonl";
  RunningProxy px(allow_all(up.port), {"a.test=127.0.0.1", "denied.test=127.0.0.1"}, opt);
  const auto ps = std::to_string(up.port);
  const int fd = connect_local(px.port);
  REQUIRE(send_all(fd, "GET http://a.test:" + ps + "/1 HTTP/1.1\r\nHost: a.test:" + ps + "\r\n\r\n" +
                           "GET http://denied.test:" + ps + "/2 HTTP/1.1\r\nHost: denied.test:" + ps + "\r\n\r\n"));
  const auto got = recv_all(fd, 3000);
  close(fd);
  CHECK(got.starts_with(kOk + "HTTP/1.1 403"));
  CHECK(got.find("refused denied.test:" + ps) != std::string::npos);
  const auto recs = wait_records(opt.egress_log, 2);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0]["host"] == "a.test");
  CHECK(recs[0]["decision"] == "allow");
  CHECK(recs[1]["host"] == "denied.test");
  CHECK(recs[1]["decision"] == "deny");
  CHECK(read_lines(dir.path / "up.log") == std::vector<std::string>{"conn 1", "1 GET /1"});
}

TEST_CASE("intercepted tunnel: a smuggled request never reaches the upstream, and never with the secret",
          "[proxy][e2e][security]") {
  for (const auto& v : variants()) {
    INFO(v.connection);
    TempDir dir;
    RawUpstream up({{kOk}, {kOk}, {kOk}}, dir.path / "up.log", dir.path / "heads.log", true);
    RunningProxy px(allow_all(up.port), {"secret.test=127.0.0.1"}, intercepting(dir), api_token());
    TunnelClient c(px.port, "secret.test", up.port, *px.proxy->ca_certificate_pem());
    REQUIRE(c.ssl);
    const auto host = "Host: secret.test:" + std::to_string(up.port) + "\r\n";
    REQUIRE(c.send("POST /first HTTP/1.1\r\n" + host + v.connection + "\r\n" + v.framing + "\r\n\r\n" + v.body +
                   "GET /next HTTP/1.1\r\n" + host + "\r\n"));
    const auto r = c.read("");
    CHECK(r.starts_with("HTTP/1.1 400"));
    CHECK(r.find("Connection header names") != std::string::npos);
    wait_idle(px);  // the proxy has retired the connection: it sends nothing more upstream for it
    const auto heads = slurp(dir.path / "heads.log");
    CHECK(heads.find("evil.test") == std::string::npos);
    CHECK(heads.find(kSecret) == std::string::npos);
    for (const auto& line : read_lines(dir.path / "up.log")) CHECK(line.starts_with("conn "));
  }
}

TEST_CASE("intercepted tunnel: responses are framed, so extra or malformed upstream bytes never reach the client",
          "[proxy][e2e][security]") {
  TempDir dir;
  const std::string extra = kOk + "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled";
  RawUpstream up({{extra}, {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n0\r\n\r\n"},
                  {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0, true}},
                 dir.path / "up.log", dir.path / "heads.log", true);
  RunningProxy px(allow_all(up.port), {"secret.test=127.0.0.1"}, intercepting(dir), api_token());
  const auto pem = *px.proxy->ca_certificate_pem();
  const auto req = "GET /x HTTP/1.1\r\nHost: secret.test:" + std::to_string(up.port) + "\r\n\r\n";
  {  // a second response nobody asked for
    TunnelClient c(px.port, "secret.test", up.port, pem);
    REQUIRE(c.send(req));
    const auto r = c.read("");
    CHECK(r == kOk);
  }
  {  // Content-Length with Transfer-Encoding: a 502 of the proxy's own, none of the upstream's bytes
    TunnelClient c(px.port, "secret.test", up.port, pem);
    REQUIRE(c.send(req));
    const auto r = c.read("");
    CHECK(r.starts_with("HTTP/1.1 502"));
    CHECK(r.find("bad") == std::string::npos);
  }
  {  // a body cut short by the upstream's close: the client sees the valid part, then the end
    TunnelClient c(px.port, "secret.test", up.port, pem);
    REQUIRE(c.send(req));
    CHECK(c.read("") == "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
  }
}

TEST_CASE("intercepted tunnel: each request is logged on its own and gets the secret, nothing after Connection: close",
          "[proxy][e2e][security]") {
  TempDir dir;
  RawUpstream up({{kOk}, {kOk}, {kOk}}, dir.path / "up.log", dir.path / "heads.log", true);
  auto opt = intercepting(dir);
  const auto log = opt.egress_log;
  RunningProxy px(allow_all(up.port), {"secret.test=127.0.0.1"}, opt, api_token());
  {
    TunnelClient c(px.port, "secret.test", up.port, *px.proxy->ca_certificate_pem());
    REQUIRE(c.ssl);
    const auto host = "Host: secret.test:" + std::to_string(up.port) + "\r\n";
    // Pipelined in one write: answered one by one; nothing after the Connection: close request.
    REQUIRE(c.send("GET /1 HTTP/1.1\r\n" + host + "Authorization: Bearer PLACEHOLDER\r\n\r\n" + "POST /2 HTTP/1.1\r\n" +
                   host + "Content-Length: 3\r\nConnection: close\r\n\r\nabc" + "GET /3 HTTP/1.1\r\n" + host + "\r\n"));
    CHECK(c.read("") == kOk + kOk);
  }
  const auto recs = wait_records(log, 3);
  REQUIRE(recs.size() == 3);
  CHECK(recs[0]["method"] == "GET");
  CHECK(recs[1]["method"] == "POST");
  CHECK(recs[2]["method"] == "CONNECT");
  for (const auto& r : recs) {
    CHECK(r["intercepted"] == true);
    CHECK(r["decision"] == "allow");
    CHECK(r["host"] == "secret.test");
    CHECK(r["status"] == 200);
  }
  CHECK(recs[0]["reason"].get<std::string>().find("secret header injected: Authorization") != std::string::npos);
  CHECK(read_lines(dir.path / "up.log") == std::vector<std::string>{"conn 1", "1 GET /1", "1 POST /2"});
  const auto heads = slurp(dir.path / "heads.log");
  size_t injected = 0;
  for (auto pos = heads.find("Authorization: Bearer " + kSecret); pos != std::string::npos;
       pos = heads.find("Authorization: Bearer " + kSecret, pos + 1))
    ++injected;
  CHECK(injected == 2);
  CHECK(heads.find("PLACEHOLDER") == std::string::npos);
  CHECK(slurp(log).find(kSecret) == std::string::npos);
}

TEST_CASE("a header secret with a line break gets a 502 naming the secret, and the log says 502", "[proxy][e2e][security]") {
  TempDir dir;
  RawUpstream up({{kOk}}, dir.path / "up.log", dir.path / "heads.log", true);
  auto opt = intercepting(dir, "abc\r\nX-Evil: 1");
  const auto log = opt.egress_log;
  RunningProxy px(allow_all(up.port), {"secret.test=127.0.0.1"}, opt, api_token());
  const auto authority = "secret.test:" + std::to_string(up.port);
  const auto r = roundtrip(px.port, "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  CHECK(r.starts_with("HTTP/1.1 502"));
  CHECK(r.find("'api-token'") != std::string::npos);
  CHECK(r.find("line break") != std::string::npos);
  CHECK(r.find("X-Evil") == std::string::npos);
  const auto recs = wait_records(log, 1);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0]["status"] == 502);
  CHECK(recs[0]["decision"] == "deny");
  CHECK(slurp(log).find("X-Evil") == std::string::npos);
}
