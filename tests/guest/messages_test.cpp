#include <catch2/catch.hpp>

#include "guest/protocol/messages.h"

namespace p = sbx::guest::protocol;

TEST_CASE("OPEN exec round-trips with every field", "[guest][protocol]") {
  p::Open o;
  o.kind = p::OpenKind::exec;
  o.argv = {"sh", "-c", "echo hi"};
  o.env = {{"A", "1"}, {"B", "two words"}};
  o.cwd = "/work";
  o.user = "root";
  o.tty = true;
  o.rows = 50;
  o.cols = 200;
  o.term = "xterm";
  auto back = p::parse_open(p::to_json(o));
  REQUIRE(back.has_value());
  CHECK(back->argv == o.argv);
  CHECK(back->env == o.env);
  CHECK(back->cwd == o.cwd);
  CHECK(back->user == "root");
  CHECK(back->tty);
  CHECK(back->rows == 50);
  CHECK(back->cols == 200);
  CHECK(back->term == "xterm");
}

TEST_CASE("OPEN proxy round-trips its destination", "[guest][protocol]") {
  p::Open o;
  o.kind = p::OpenKind::proxy;
  o.destination.host = "example.com";
  o.destination.port = 443;
  o.destination.learned = "dns";
  o.client = "127.0.0.1:5555";
  auto back = p::parse_open(p::to_json(o));
  REQUIRE(back.has_value());
  CHECK(back->kind == p::OpenKind::proxy);
  CHECK(back->destination.host == "example.com");
  CHECK(back->destination.port == 443);
  CHECK(back->destination.learned == "dns");
  auto http = p::parse_open(R"({"kind":"proxy","destination":{"host":null,"port":null,"learned":"http-proxy"}})");
  REQUIRE(http.has_value());
  CHECK_FALSE(http->destination.host.has_value());
}

TEST_CASE("OPEN refuses wrong shapes with a reason", "[guest][protocol]") {
  auto reason = [](std::string_view json) {
    auto r = p::parse_open(json);
    return r ? std::string("accepted") : r.error().message;
  };
  CHECK(reason("not json") .find("not valid JSON") != std::string::npos);
  CHECK(reason("[1]").find("object") != std::string::npos);
  CHECK(reason(R"({"argv":["x"]})").find("kind is required") != std::string::npos);
  CHECK(reason(R"({"kind":"teleport"})").find("unknown kind") != std::string::npos);
  CHECK(reason(R"({"kind":"exec"})").find("non-empty argv") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":[]})").find("non-empty argv") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":[1]})").find("string") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":[""]})").find("empty") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":["a\u0000b"]})").find("NUL") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":["x"],"evil":1})").find("unknown key") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":["x"],"cwd":"rel"})").find("absolute") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":["x"],"user":"../root"})").find("user") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":["x"],"rows":0})").find("between") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":["x"],"cols":70000})").find("between") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":["x"],"env":{"A=B":"c"}})").find("variable name") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":["x"],"env":{"A":1}})").find("string") != std::string::npos);
  CHECK(reason(R"({"kind":"exec","argv":["x"],"tty":"yes"})").find("true or false") != std::string::npos);
  CHECK(reason(R"({"kind":"proxy","destination":{"learned":"dns"}})").find("host and port") != std::string::npos);
  CHECK(reason(R"({"kind":"proxy","destination":{"learned":"guess"}})").find("learned") != std::string::npos);
  CHECK(reason(R"({"kind":"proxy","destination":{"learned":"redirect","host":"a","port":0}})").find("between") !=
        std::string::npos);
}

TEST_CASE("a shell OPEN is always a tty and may omit argv", "[guest][protocol]") {
  auto r = p::parse_open(R"({"kind":"shell","tty":false})");
  REQUIRE(r.has_value());
  CHECK(r->tty);
  CHECK(r->argv.empty());
}

TEST_CASE("HELLO, CONFIG, READY and OPEN_FAIL round-trip", "[guest][protocol]") {
  p::Hello h;
  h.agent = "sbx-guest 1";
  h.kernel = "6.1";
  h.reconnect = true;
  h.boot.uptime_ms = 1500;
  auto hb = p::parse_hello(p::to_json(h));
  REQUIRE(hb.has_value());
  CHECK(hb->protocol == p::kProtocolVersion);
  CHECK(hb->reconnect);
  CHECK(hb->boot.uptime_ms == 1500);

  p::Config c;
  c.hostname = "box-1";
  c.env = {{"K", "V"}};
  c.mounts = {{"proj", "/work", false}};
  c.proxy = false;
  c.ca_certificate = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  c.user = "node";
  c.workdir = "/app";
  auto cb = p::parse_config(p::to_json(c));
  REQUIRE(cb.has_value());
  CHECK(cb->hostname == "box-1");
  CHECK(cb->ca_certificate == c.ca_certificate);
  CHECK(cb->user == "node");
  CHECK(cb->workdir == "/app");
  CHECK_FALSE(p::parse_config(R"({"ca_certificate":"not a pem"})").has_value());
  CHECK_FALSE(p::parse_config(R"({"workdir":"relative"})").has_value());
  CHECK_FALSE(p::parse_config(R"({"user":"Root; rm"})").has_value());
  CHECK(cb->mounts.size() == 1);
  CHECK_FALSE(cb->mounts[0].readonly);
  CHECK_FALSE(cb->proxy);
  CHECK(p::parse_config("{}").has_value());
  CHECK_FALSE(p::parse_config(R"({"hostname":"bad name!"})").has_value());
  CHECK_FALSE(p::parse_config(R"({"mounts":[{"tag":"a","target":"/x/../etc"}]})").has_value());
  p::Config with_local;
  with_local.mounts = {{"proj", "/work", false, {"node_modules", "a/.venv"}}};
  auto lb = p::parse_config(p::to_json(with_local));
  REQUIRE(lb.has_value());
  CHECK(lb->mounts[0].local == std::vector<std::string>{"node_modules", "a/.venv"});
  for (const char* bad : {"../x", "/abs", "a/../b", "a//b", "./a", "a/", ""}) {
    INFO(bad);
    CHECK_FALSE(p::parse_config(std::string(R"({"mounts":[{"tag":"a","target":"/w","local":[")") + bad + "\"]}]}").has_value());
  }

  p::Ready r;
  r.ok = false;
  r.errors = {"mount failed"};
  auto rb = p::parse_ready(p::to_json(r));
  REQUIRE(rb.has_value());
  CHECK_FALSE(rb->ok);
  CHECK(rb->errors == r.errors);

  auto fb = p::parse_open_fail(p::to_json(p::OpenFail{"nope", 2}));
  REQUIRE(fb.has_value());
  CHECK(fb->reason == "nope");
  CHECK(fb->err == 2);
  CHECK(p::parse_error_message(p::error_json("boom")) == "boom");
}

TEST_CASE("deeply nested or huge JSON is refused without crashing", "[guest][protocol]") {
  std::string deep(20000, '[');
  CHECK_FALSE(p::parse_open(deep).has_value());
  std::string nested = R"({"kind":"exec","argv":["x"],"env":)" + std::string(5000, '[') + std::string(5000, ']') + "}";
  CHECK_FALSE(p::parse_open(nested).has_value());
  CHECK_FALSE(p::parse_open(std::string(p::kMaxPayload + 10, ' ')).has_value());
}

TEST_CASE("READY and OPEN_FAIL frames stay within the payload limit whatever they carry", "[guest][protocol]") {
  p::Ready r;
  r.ok = false;
  for (int i = 0; i < 64; ++i) r.errors.push_back(std::string(4096, '\x01'));  // escapes to 6 bytes each
  auto f = p::ready_frame(r);
  CHECK(f.payload.size() <= p::kMaxPayload);
  CHECK_NOTHROW(p::encode(f));
  auto fail = p::open_fail_frame(1, {std::string(32768, '\x02'), std::nullopt});
  CHECK(fail.payload.size() <= p::kMaxPayload);
  CHECK_NOTHROW(p::encode(fail));
}

TEST_CASE("a port OPEN carries only a port on the guest's loopback, checked strictly", "[guest][protocol][security]") {
  p::Open o;
  o.kind = p::OpenKind::port;
  o.guest_port = 3000;
  const std::string json = p::to_json(o);
  CHECK(json == R"({"kind":"port","port":3000})");
  auto back = p::parse_open(json);
  REQUIRE(back.has_value());
  CHECK(back->kind == p::OpenKind::port);
  CHECK(back->guest_port == 3000);
  // No address, no host name, nothing but the port: a port stream cannot be aimed elsewhere.
  for (const char* bad : {R"({"kind":"port"})", R"({"kind":"port","port":0})", R"({"kind":"port","port":65536})",
                          R"({"kind":"port","port":"80"})", R"({"kind":"port","port":80,"host":"10.0.0.1"})",
                          R"({"kind":"port","port":80,"address":"0.0.0.0"})", R"({"kind":"port","port":80.5})"}) {
    INFO(bad);
    CHECK_FALSE(p::parse_open(bad).has_value());
  }
}

TEST_CASE("CONFIG's docker switch round-trips, is left out when off, and must be a boolean", "[protocol][docker]") {
  using namespace sbx::guest::protocol;
  Config c;
  CHECK(to_json(c).find("docker") == std::string::npos);
  c.docker = true;
  auto back = parse_config(to_json(c));
  REQUIRE(back.has_value());
  CHECK(back->docker);
  CHECK_FALSE(parse_config(R"({"docker": "yes"})").has_value());
  CHECK_FALSE(parse_config(R"({"dockerd": true})").has_value());
}
