// The SBX_EGRESS_RESOLVE parser: what it accepts, and the hostile or sloppy values it refuses.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "proxy/host_pins.h"

using namespace sbx::proxy;

namespace {

std::string refusal(std::string_view text) {
  auto r = parse_host_pins(text);
  return r ? std::string("(accepted)") : r.error().message;
}

}  // namespace

TEST_CASE("host pins parse names and their addresses, normalised, in order", "[proxy][pins]") {
  auto r = parse_host_pins("API.Provider.test.=127.0.0.1,::1;other.test=[2001:db8::2];;x_y.test=192.0.2.7;");
  REQUIRE(r);
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].name == "api.provider.test");
  REQUIRE((*r)[0].addresses.size() == 2);
  CHECK((*r)[0].addresses[0].str() == "127.0.0.1");
  CHECK((*r)[0].addresses[1].str() == "::1");
  CHECK((*r)[1].name == "other.test");
  CHECK((*r)[1].addresses[0].str() == "2001:db8::2");
  CHECK((*r)[2].name == "x_y.test");
  // The canonical text reads back to the same table.
  const std::string text = host_pins_text(*r);
  CHECK(text == "api.provider.test=127.0.0.1,::1;other.test=2001:db8::2;x_y.test=192.0.2.7");
  auto again = parse_host_pins(text);
  REQUIRE(again);
  CHECK(*again == *r);
  CHECK(pin_table(*r).at("other.test").size() == 1);
}

TEST_CASE("an empty or unset pin table is no pins", "[proxy][pins]") {
  CHECK(parse_host_pins("")->empty());
  CHECK(parse_host_pins(";;;")->empty());
  ::unsetenv(kHostPinsEnv);
  CHECK(host_pins_from_env()->empty());
  ::setenv(kHostPinsEnv, "", 1);
  CHECK(host_pins_from_env()->empty());
  ::setenv(kHostPinsEnv, "a.test=127.0.0.1", 1);
  REQUIRE(host_pins_from_env());
  CHECK(host_pins_from_env()->at(0).name == "a.test");
  ::setenv(kHostPinsEnv, "a.test=nope", 1);
  REQUIRE_FALSE(host_pins_from_env());
  CHECK(host_pins_from_env().error().message.find("SBX_EGRESS_RESOLVE") != std::string::npos);
  ::unsetenv(kHostPinsEnv);
}

TEST_CASE("host pins refuse malformed entries with a message that names the entry", "[proxy][pins][security]") {
  CHECK(refusal("a.test") .find("is not name=addr") != std::string::npos);
  CHECK(refusal("=127.0.0.1").find("is not name=addr") != std::string::npos);
  CHECK(refusal("a.test=").find("is not name=addr") != std::string::npos);
  CHECK(refusal("a.test==127.0.0.1").find("is not an IP address") != std::string::npos);
  CHECK(refusal("a.test=127.0.0.1,").find("is not an IP address") != std::string::npos);
  CHECK(refusal("a.test=,127.0.0.1").find("is not an IP address") != std::string::npos);
  CHECK(refusal("a.test=other.test").find("is not an IP address") != std::string::npos);
  // Whitespace and control bytes anywhere: a header-splitting or log-forging value never parses.
  for (const char* bad : {" a.test=127.0.0.1", "a.test =127.0.0.1", "a.test=127.0.0.1 ", "a.test=127.0.0.1\n",
                          "a.test=127.0.0.1\r\nb.test=127.0.0.1", "a.test\t=127.0.0.1"})
    CHECK(refusal(bad).find("a space, a control byte") != std::string::npos);
  CHECK(refusal(std::string("a.test=127.0.0.1\0b", 18)).find("control byte") != std::string::npos);
  CHECK(refusal("a.t\xc3\xa9st=127.0.0.1").find("control byte") != std::string::npos);  // non-ASCII
  // The quoted entry is escaped and cut short.
  const std::string longbad = std::string(200, 'a') + "\x1b[31m";
  const auto msg = refusal(longbad);
  CHECK(msg.find('\x1b') == std::string::npos);
  CHECK(msg.size() < 250);
}

TEST_CASE("host pins take only DNS names, never IP literals, wildcards or ports", "[proxy][pins][security]") {
  for (const char* name : {"*.test", "a..test", ".test", "a.test:443", "a/b.test", "a@b.test", "[::1]", "a.test%00"})
    CHECK(refusal(std::string(name) + "=127.0.0.1").find("not a host name") != std::string::npos);
  // Anything the proxy would read as an IP literal (inet_aton spellings included) is not a name.
  for (const char* name : {"127.0.0.1", "2130706433", "127.1", "0x7f.0.0.1"})
    CHECK(refusal(std::string(name) + "=192.0.2.1").find("is an IP address, not a name") != std::string::npos);
  CHECK(refusal(std::string(64, 'a') + ".test=127.0.0.1").find("not a host name") != std::string::npos);  // label > 63
  CHECK(parse_host_pins(std::string(63, 'a') + ".test=127.0.0.1"));
}

TEST_CASE("host pins take strict address spellings only", "[proxy][pins][security]") {
  // Short and odd IPv4 spellings hide what they mean ("127.1" is loopback): refused.
  for (const char* addr : {"127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.0.0.01", "127.0.0.1.", "256.0.0.1",
                           "[127.0.0.1]", "fe80::1%eth0", "::1::2", "1.2.3.4/32", "localhost", "-1"})
    CHECK(refusal(std::string("a.test=") + addr).find("is not an IP address") != std::string::npos);
  for (const char* addr : {"127.0.0.1", "::1", "[::1]", "2001:DB8::1", "::ffff:127.0.0.1"}) {
    INFO(addr);
    CHECK(parse_host_pins(std::string("a.test=") + addr));
  }
  // The IPv4-mapped form is the IPv4 address: the SSRF checks see loopback.
  CHECK(parse_host_pins("a.test=::ffff:127.0.0.1")->at(0).addresses[0].str() == "127.0.0.1");
}

TEST_CASE("host pins refuse duplicates and are bounded in names, addresses and size", "[proxy][pins][security]") {
  CHECK(refusal("a.test=127.0.0.1;A.test.=127.0.0.2").find("pinned twice") != std::string::npos);
  CHECK(refusal("a.test=127.0.0.1,127.0.0.1").find("listed twice") != std::string::npos);
  CHECK(refusal("a.test=::1,0:0:0:0:0:0:0:1").find("listed twice") != std::string::npos);

  std::string names;
  for (size_t i = 0; i < kMaxPinnedNames; ++i) names += "n" + std::to_string(i) + ".test=127.0.0.1;";
  REQUIRE(parse_host_pins(names));
  CHECK(parse_host_pins(names)->size() == kMaxPinnedNames);
  CHECK(refusal(names + "one-more.test=127.0.0.1").find("more than 64 names") != std::string::npos);

  std::string addrs = "a.test=";
  for (size_t i = 0; i < kMaxPinAddresses; ++i) addrs += (i ? ",127.0.0." : "127.0.0.") + std::to_string(i + 1);
  CHECK(parse_host_pins(addrs));
  CHECK(refusal(addrs + ",127.0.0.99").find("more than 16 addresses") != std::string::npos);

  CHECK(refusal(std::string(kMaxPinsText + 1, ';')).find("more than the 8192") != std::string::npos);
}
