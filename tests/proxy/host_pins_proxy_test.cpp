// Host pins in the running proxy: a pinned name connects to its pinned address without asking
// the resolver, every other name still goes to the resolver, and a pinned address passes the
// same SSRF checks as a resolved one. Real curl, a real loopback server.
#include <catch2/catch.hpp>

#include <thread>

#include "test_support.h"

using namespace sbx::proxy;
using namespace sbx::proxy::test;
using namespace std::chrono_literals;

namespace {

const std::string kCurl = "env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u no_proxy -u NO_PROXY curl -sS --max-time 10 ";

std::vector<HostPin> pins(std::string_view text) { return *parse_host_pins(text); }

}  // namespace

TEST_CASE("a pinned name reaches its pinned address, other names use the resolver, and pins reload with the rules", "[proxy][e2e][pins][security]") {
  Upstream up("plain", false);
  TempDir dir;
  const std::string port = std::to_string(up.port);
  // The resolver stands in for DNS: it knows other.test only, and would send pinned.test elsewhere.
  auto resolver = *StaticResolver::from_specs({"other.test=127.0.0.1", "pinned.test=192.0.2.1"});
  ProxyOptions opt;
  opt.resolver = resolver;
  opt.egress_log = dir.path / "egress.jsonl";
  const auto with_cidr = egress({"pinned.test:" + port, "other.test:" + port, "127.0.0.1/32:" + port});
  auto created = Proxy::create(std::move(opt), Policy{with_cidr, {}, "Sandboxfile", pins("Pinned.Test=127.0.0.1")});
  REQUIRE(created);
  auto& proxy = **created;
  const auto listen = proxy.listen("127.0.0.1:0");
  REQUIRE(listen);
  proxy.start();
  const std::string px = " -x http://127.0.0.1:" + std::to_string(*listen) + " ";

  int rc = -1;
  auto out = sh(kCurl + px + "http://pinned.test:" + port + "/via-pin", &rc);
  CHECK(rc == 0);
  CHECK(out.find("\"/via-pin\"") != std::string::npos);
  CHECK(resolver->lookups("pinned.test") == 0);  // DNS was never asked
  out = sh(kCurl + px + "http://other.test:" + port + "/via-dns", &rc);
  CHECK(out.find("\"/via-dns\"") != std::string::npos);
  CHECK(resolver->lookups("other.test") == 1);
  auto recs = wait_records(dir.path / "egress.jsonl", 2);
  REQUIRE(recs.size() >= 2);
  CHECK(recs[0]["host"] == "pinned.test");
  CHECK(recs[0]["address"] == "127.0.0.1");
  CHECK(recs[0].value("pinned", false));
  CHECK_FALSE(recs[1].contains("pinned"));

  // Without the CIDR rule the pinned loopback address is refused like a resolved one: the 403
  // names the range and the rule to add; the pin does not bypass the SSRF defence.
  REQUIRE(proxy.set_policy(Policy{egress({"pinned.test:" + port}), {}, "Sandboxfile", pins("pinned.test=127.0.0.1")}));
  const auto refused = roundtrip(*listen, "GET http://pinned.test:" + port + "/ HTTP/1.1\r\nHost: pinned.test:" + port + "\r\n\r\n");
  INFO(refused);
  CHECK(refused.starts_with("HTTP/1.1 403"));
  CHECK(refused.find("127.0.0.0/8 (loopback)") != std::string::npos);
  CHECK(refused.find("allow = [\"127.0.0.1/32:" + port + "\"]") != std::string::npos);
  // A metadata pin is refused the same way (no CIDR rule covers it).
  REQUIRE(proxy.set_policy(Policy{with_cidr, {}, "Sandboxfile", pins("pinned.test=169.254.169.254")}));
  const auto meta = roundtrip(*listen, "CONNECT pinned.test:" + port + " HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(meta.starts_with("HTTP/1.1 403"));
  CHECK(meta.find("metadata") != std::string::npos);

  // New pins apply to the next connection at once (no answer cache in the way); removing the
  // pin sends the name back to the resolver, whose answer (192.0.2.1) has no CIDR rule.
  REQUIRE(proxy.set_policy(Policy{with_cidr, {}, "Sandboxfile", pins("pinned.test=127.0.0.1")}));
  out = sh(kCurl + px + "http://pinned.test:" + port + "/again", &rc);
  CHECK(out.find("\"/again\"") != std::string::npos);
  REQUIRE(proxy.set_policy(Policy{with_cidr, {}, "Sandboxfile", {}}));
  const auto unpinned = roundtrip(*listen, "GET http://pinned.test:" + port + "/ HTTP/1.1\r\nHost: pinned.test:" + port + "\r\n\r\n");
  CHECK(unpinned.starts_with("HTTP/1.1 403"));
  CHECK(unpinned.find("192.0.2.0/24") != std::string::npos);
  CHECK(resolver->lookups("pinned.test") == 1);
  proxy.stop();
}
