#include <catch2/catch.hpp>

#include "config/canonical.h"
#include "config/port_rules.h"
#include "load_helpers.h"

using namespace sbx::config;
using namespace sbx::config::test;

namespace {
constexpr std::string_view kBase = "version = 1\n";
std::string all_messages(const sbx::Error& e) {
  std::string out = e.message + "\n";
  for (const auto& d : e.details) out += d.message + " | " + d.hint + "\n";
  return out;
}
}  // namespace

TEST_CASE("a port with only guest is forwarded from the same port on the host's loopback", "[config][port]") {
  const auto f = load_ok(std::string(kBase) + "[[port]]\nguest = 3000\n");
  REQUIRE(f.ports.size() == 1);
  CHECK(f.ports[0].host_address == "127.0.0.1");
  CHECK(f.ports[0].host_port == 3000);
  CHECK(f.ports[0].guest_port == 3000);
  CHECK(f.ports[0].location.line == 2);
}

TEST_CASE("a port's host side is a number or an explicit IP address and port", "[config][port]") {
  const auto f = load_ok(std::string(kBase) +
                         "[[port]]\nguest = 3000\nhost = 8080\n"
                         "[[port]]\nguest = 5173\nhost = \"0.0.0.0:5173\"\n"
                         "[[port]]\nguest = 9000\nhost = \"[::1]:9001\"\n");
  REQUIRE(f.ports.size() == 3);
  CHECK(f.ports[0].host_address == "127.0.0.1");
  CHECK(f.ports[0].host_port == 8080);
  CHECK(f.ports[1].host_address == "0.0.0.0");
  CHECK(f.ports[2].host_address == "::1");
  CHECK(f.ports[2].host_port == 9001);
  CHECK(to_json(f)["ports"][2]["host_address"] == "::1");
}

TEST_CASE("ports are part of the desired state", "[config][port][canonical]") {
  const auto a = load_ok(std::string(kBase) + "[[port]]\nguest = 3000\n");
  const auto b = load_ok(std::string(kBase) + "[[port]]\nguest = 3000\nhost = 3001\n");
  const auto c = load_ok(std::string(kBase) + "[[port]]\nguest = 3000\nhost = 3000\n");
  CHECK(digest(a) != digest(b));
  CHECK(digest(a) == digest(c));
}

TEST_CASE("bad ports are errors with the line and a fix", "[config][port]") {
  const auto e = load_err(std::string(kBase) +
                          "[[port]]\nhost = 8080\n"                     // no guest
                          "[[port]]\nguest = 0\n"                       // out of range
                          "[[port]]\nguest = 70000\n"
                          "[[port]]\nguest = \"3000\"\n"                // a string
                          "[[port]]\nguest = 1\nhost = \"localhost:80\"\n"  // a host name
                          "[[port]]\nguest = 2\nhost = \"::1:80\"\n"    // IPv6 without brackets
                          "[[port]]\nguest = 3\nhost = \"127.0.0.1:0\"\n"
                          "[[port]]\nguest = 4\nlisten = 4\n"           // unknown key
                          "[[port]]\nguest = 5\nhost = 7000\n"
                          "[[port]]\nguest = 6\nhost = 7000\n");       // host port twice
  const std::string m = all_messages(e);
  INFO(m);
  CHECK(m.find("[[port]] is missing 'guest'") != std::string::npos);
  CHECK(m.find("guest must be a port number from 1 to 65535 |") != std::string::npos);
  CHECK(m.find("guest must be a port number from 1 to 65535, found a string") != std::string::npos);
  CHECK(m.find("invalid host endpoint 'localhost:80': the address must be an IPv4 or IPv6 literal") != std::string::npos);
  CHECK(m.find("invalid host endpoint '::1:80': an IPv6 address is written [ADDRESS]:PORT") != std::string::npos);
  CHECK(m.find("invalid host endpoint '127.0.0.1:0': the port must be a number from 1 to 65535") != std::string::npos);
  CHECK(m.find("unknown key 'listen' in [[port]]") != std::string::npos);
  CHECK(m.find("host port 7000 is already forwarded at line 24") != std::string::npos);
}

TEST_CASE("more than 64 ports are refused", "[config][port]") {
  std::string text(kBase);
  for (int i = 0; i < 65; ++i) text += "[[port]]\nguest = " + std::to_string(2000 + i) + "\n";
  CHECK(all_messages(load_err(text)).find("too many ports (65); at most 64") != std::string::npos);
}

TEST_CASE("a host endpoint is normalised and loopback is told apart", "[config][port]") {
  CHECK(parse_host_endpoint("[0:0:0:0:0:0:0:1]:80")->address == "::1");
  CHECK(parse_host_endpoint("127.0.0.1:65535")->port == 65535);
  CHECK_FALSE(parse_host_endpoint("127.0.0.1:65536").has_value());
  CHECK_FALSE(parse_host_endpoint("127.0.0.1:+80").has_value());
  CHECK_FALSE(parse_host_endpoint("127.0.0.1").has_value());
  CHECK_FALSE(parse_host_endpoint("[::1]80").has_value());
  CHECK(is_loopback_address("127.0.0.1"));
  CHECK(is_loopback_address("::1"));
  CHECK_FALSE(is_loopback_address("0.0.0.0"));
  CHECK(endpoint_text("::1", 80) == "[::1]:80");
  CHECK(endpoint_text("127.0.0.1", 80) == "127.0.0.1:80");
}
