// Unit tests for address classification and CIDR ranges (src/proxy/address.*).
#include <catch2/catch.hpp>

#include "proxy/address.h"

using namespace sbx::proxy;

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
