// Unit tests: address classification, rule compilation and decisions, the request parser,
// the ClientHello peek, and rule suggestion.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "proxy/address.h"
#include "proxy/http_parser.h"
#include "proxy/rules.h"
#include "proxy/suggest.h"
#include "proxy/tls_sni.h"
#include "test_support.h"

using namespace sbx::proxy;
using sbx::proxy::test::rule;

namespace {
sbx::config::Egress egress(std::vector<std::string> allow, std::vector<std::string> deny = {}) {
  sbx::config::Egress e;
  int line = 10;
  for (auto& a : allow) e.allow.push_back(rule(a, line++));
  for (auto& d : deny) e.deny.push_back(rule(d, line++));
  return e;
}
std::shared_ptr<const RuleSet> compile(const sbx::config::Egress& e) {
  auto r = RuleSet::compile(e);
  REQUIRE(r);
  return *r;
}
}  // namespace

TEST_CASE("special addresses are classified, including IPv4-mapped and odd IPv4 spellings", "[proxy]") {
  for (const char* a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                        "0.0.0.0", "224.0.0.1", "::1", "fc00::1", "fd12::1", "fe80::1", "::ffff:127.0.0.1",
                        "::ffff:169.254.169.254", "::ffff:10.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "::127.0.0.1"}) {
    auto ip = IpAddress::parse(a);
    INFO(a);
    REQUIRE(ip);
    CHECK(special_range(*ip).has_value());
  }
  for (const char* a : {"8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"}) {
    INFO(a);
    CHECK_FALSE(special_range(*IpAddress::parse(a)).has_value());
  }
  CHECK(IpAddress::parse("::ffff:127.0.0.1")->str() == "127.0.0.1");
  CHECK(special_range(*IpAddress::parse("169.254.169.254"))->find("metadata") != std::string_view::npos);
  CHECK_FALSE(IpAddress::parse("allowed.test"));
}

TEST_CASE("CIDR ranges contain what they should, IPv4-mapped forms included", "[proxy]") {
  auto c = Cidr::parse("127.0.0.0/8");
  REQUIRE(c);
  CHECK(c->contains(*IpAddress::parse("127.9.9.9")));
  CHECK(c->contains(*IpAddress::parse("::ffff:127.0.0.1")));
  CHECK_FALSE(c->contains(*IpAddress::parse("128.0.0.1")));
  CHECK(Cidr::parse("fd00::/8")->contains(*IpAddress::parse("fd00::5")));
  CHECK_FALSE(Cidr::parse("10.0.0.0/33"));
}

TEST_CASE("exact, wildcard and regex rules decide hosts and ports, and deny beats allow", "[proxy]") {
  auto rs = compile(egress({"api.example.com", "*.npmjs.org", "re:^api[0-9]+\\.re\\.test$", "db.example.com:5432"},
                           {"evil.npmjs.org"}));
  CHECK(rs->decide_host("api.example.com", 443).allowed);
  CHECK(rs->decide_host("API.Example.COM.", 80).allowed);
  CHECK_FALSE(rs->decide_host("example.com", 443).allowed);
  CHECK(rs->decide_host("registry.npmjs.org", 443).allowed);
  CHECK(rs->decide_host("a.b.npmjs.org", 443).allowed);
  CHECK_FALSE(rs->decide_host("npmjs.org", 443).allowed);  // a wildcard is not the apex
  CHECK_FALSE(rs->decide_host("xnpmjs.org", 443).allowed);
  CHECK(rs->decide_host("api12.re.test", 443).allowed);
  CHECK_FALSE(rs->decide_host("api.re.test", 443).allowed);
  auto port = rs->decide_host("api.example.com", 8443);
  CHECK_FALSE(port.allowed);
  CHECK(port.reason == Reason::port_not_allowed);
  CHECK(rs->rule_ref(port) == "Sandboxfile:10");
  CHECK(rs->fix_line(port, "api.example.com", 8443, "") == "allow = [\"api.example.com:8443\"]");
  CHECK(rs->decide_host("db.example.com", 5432).allowed);
  CHECK_FALSE(rs->decide_host("db.example.com", 443).allowed);
  auto deny = rs->decide_host("evil.npmjs.org", 443);
  CHECK_FALSE(deny.allowed);
  CHECK(deny.reason == Reason::denied_rule);
  CHECK(rs->rule_ref(deny) == "Sandboxfile:14");
  CHECK(rs->fix_line(deny, "evil.npmjs.org", 443, "").empty());
  auto none = rs->decide_host("other.org", 443);
  CHECK(none.reason == Reason::not_allowed);
  CHECK(rs->rule_ref(none) == "default");
  CHECK(rs->fix_line(none, "other.org", 443, "") == "allow = [\"other.org\"]");
}

TEST_CASE("addresses: literals need a CIDR rule, special ranges are refused unless allowed", "[proxy]") {
  auto rs = compile(egress({"allowed.test", "127.0.0.0/8:8080"}));
  CHECK(rs->decide_address(*IpAddress::parse("8.8.8.8"), 443, false).allowed);
  auto lit = rs->decide_address(*IpAddress::parse("8.8.8.8"), 443, true);
  CHECK(lit.reason == Reason::literal_not_allowed);
  CHECK(rs->fix_line(lit, "8.8.8.8", 443, "") == "allow = [\"8.8.8.8/32\"]");
  auto meta = rs->decide_address(*IpAddress::parse("169.254.169.254"), 80, false);
  CHECK(meta.reason == Reason::special_address);
  CHECK(rs->decide_address(*IpAddress::parse("127.0.0.1"), 8080, false).allowed);
  CHECK(rs->decide_address(*IpAddress::parse("::ffff:127.0.0.1"), 8080, true).allowed);
  CHECK_FALSE(rs->decide_address(*IpAddress::parse("127.0.0.1"), 9090, false).allowed);
}

TEST_CASE("ten thousand rules compile and decide correctly across RE2 set shards", "[proxy]") {
  sbx::config::Egress e;
  for (int i = 0; i < 10000; ++i) {
    std::string t = i % 3 == 0 ? "host" + std::to_string(i) + ".example.com"
                  : i % 3 == 1 ? "*.d" + std::to_string(i) + ".example.org"
                               : "re:^r" + std::to_string(i) + "-[a-z]+\\.example\\.net$";
    e.allow.push_back(rule(t, i + 1));
  }
  auto rs = compile(e);
  CHECK(rs->decide_host("host9999.example.com", 443).allowed);
  auto v = rs->decide_host("x.d9997.example.org", 443);
  CHECK(v.allowed);
  CHECK(rs->rule_ref(v) == "Sandboxfile:9998");
  CHECK(rs->decide_host("r9998-abc.example.net", 443).allowed);
  CHECK_FALSE(rs->decide_host("r9998-123.example.net", 443).allowed);
  CHECK_FALSE(rs->decide_host("nothing.example.com", 443).allowed);
}

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

TEST_CASE("the ClientHello peek finds the server name from real TLS clients", "[proxy]") {
  // A real ClientHello captured from openssl s_client into a file via a local listener.
  sbx::proxy::test::TempDir dir;
  const auto f = (dir.path / "hello.bin").string();
  const std::string d = dir.path.string();
  // A one-shot listener records the first bytes a real TLS client sends; wait (bounded) for it.
  sbx::proxy::test::sh("(timeout 10 /usr/bin/python3 -c \"import socket\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\n"
                       "open('" + d + "/port.tmp','w').write(str(s.getsockname()[1]))\nimport os;os.rename('" + d + "/port.tmp','" + d +
                       "/port')\nc,_=s.accept();d=c.recv(65536);open('" + f + "','wb').write(d)\" > /dev/null 2>&1 &) ; "
                       "for i in $(seq 100); do [ -s " + d + "/port ] && break; sleep 0.05; done; "
                       "echo | timeout 5 openssl s_client -connect 127.0.0.1:$(cat " + d + "/port) -servername Front.Test >/dev/null 2>&1; "
                       "for i in $(seq 100); do [ -s " + f + " ] && break; sleep 0.05; done");
  std::ifstream in(f, std::ios::binary);
  std::string hello((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(hello.size() > 50);
  std::string name;
  CHECK(peek_client_hello(hello, name) == HelloStatus::sni);
  CHECK(name == "front.test");
  CHECK(peek_client_hello(hello.substr(0, 20), name) == HelloStatus::need_more);
  CHECK(peek_client_hello("SSH-2.0-OpenSSH\r\n", name) == HelloStatus::not_tls);
  std::string broken = hello;
  broken[5] = 2;  // a ServerHello is not a ClientHello
  CHECK(peek_client_hello(broken, name) == HelloStatus::malformed);
}

TEST_CASE("suggestions: exact hosts, one wildcard for several subdomains, ports kept, SSRF never", "[proxy]") {
  std::stringstream log;
  auto line = [&](const std::string& host, int port, const std::string& fix, bool learned) {
    log << R"({"host":")" << host << R"(","port":)" << port << R"(,"decision":")" << (learned ? "allow" : "deny")
        << R"(","fix":")" << fix << R"(")" << (learned ? R"(,"learned":true)" : "") << "}\n";
  };
  line("registry.npmjs.org", 443, "x", true);
  line("cdn.npmjs.org", 443, "x", true);
  line("api.github.com", 443, "x", false);
  line("db.internal.test", 5432, "x", true);
  line("meta.test", 80, "allow = [\\\"169.254.169.254/32\\\"]", false);
  line("already.test", 443, "x", true);
  auto rules = suggest_rules(log, egress({"already.test"}));
  REQUIRE(rules);
  std::vector<std::string> texts;
  for (auto& r : *rules) texts.push_back(r.text);
  CHECK(texts == std::vector<std::string>{"*.npmjs.org", "api.github.com", "db.internal.test:5432"});
  const std::string sf = "version = 1\n\n[egress]\nallow = [\"already.test\"]\n";
  const auto diff = suggestion_diff(sf, "Sandboxfile", *rules);
  CHECK(diff.find("-allow = [\"already.test\"]") != std::string::npos);
  CHECK(diff.find("+allow = [\"already.test\", \"*.npmjs.org\", \"api.github.com\", \"db.internal.test:5432\"]") != std::string::npos);
  const auto fresh = suggestion_diff("version = 1\n", "Sandboxfile", *rules);
  CHECK(fresh.find("+[egress]") != std::string::npos);
}
