#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "config/egress_rule.h"
#include "config/secret_rules.h"
#include "load_helpers.h"

using namespace sbx::config;
using namespace sbx::config::test;

TEST_CASE("header names are RFC 9110 tokens of at most 128 bytes", "[config][secret]") {
  for (const char* ok : {"Authorization", "x-api-key", "X_Custom.1", "!#$%&'*+-.^_`|~"}) CHECK(is_header_name(ok));
  for (const char* bad : {"", "with space", "colon:", "new\nline", "quote\"", "(x)"}) CHECK_FALSE(is_header_name(bad));
  CHECK(is_header_name(std::string(128, 'a')));
  CHECK_FALSE(is_header_name(std::string(129, 'a')));
}

TEST_CASE("a secret cannot set a header the proxy owns, in any case", "[config][secret][security]") {
  for (const char* owned : {"Host", "content-length", "Transfer-Encoding", "CONNECTION", "upgrade", "te", "trailer",
                            "keep-alive", "Proxy-Authorization", "proxy-connection"}) {
    INFO(owned);
    CHECK(is_proxy_owned_header(owned));
    auto r = check_secret_header(owned);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message == std::string("the proxy owns the '") + owned + "' header; a secret cannot set it");
  }
  CHECK(check_secret_header("Authorization").has_value());
  CHECK(check_secret_header("bad header").error().message == "invalid header name 'bad header'");
}

TEST_CASE("a value template holds '{}' once, on one line of at most 1024 bytes", "[config][secret]") {
  CHECK(check_value_template("{}").has_value());
  CHECK(check_value_template("Bearer {}").has_value());
  for (const char* bad : {"", "Bearer", "{}{}", "{} and {}"})
    CHECK(check_value_template(bad).error().message == "'template' must contain '{}' exactly once");
  for (std::string bad : {std::string("Bearer {}\r\nX-Injected: 1"), std::string("{}\n"), "{}" + std::string(1023, 'a')})
    CHECK(check_value_template(bad).error().message == "'template' must be one line of at most 1024 bytes");
  CHECK(check_value_template("{}" + std::string(1022, 'a')).has_value());
}

TEST_CASE("a secret host is normalised and must be exact and allowed, not denied", "[config][secret][security]") {
  const std::vector<EgressRule> allow{*parse_egress_rule("*.github.com")}, deny{*parse_egress_rule("gist.github.com")};
  const HostMatcher allowed(allow), denied(deny);
  CHECK(*check_secret_host("API.GitHub.com.", allowed, denied) == "api.github.com");
  CHECK(check_secret_host("gist.github.com", allowed, denied).error().message == "secret host 'gist.github.com' is not allowed by [egress]");
  CHECK(check_secret_host("example.com", allowed, denied).error().message == "secret host 'example.com' is not allowed by [egress]");
  for (const char* pattern : {"*.github.com", "re:.*", "10.0.0.1", "10.0.0.0/8", "api.github.com:443"})
    CHECK(check_secret_host(pattern, allowed, denied).error().message == std::string("secret host '") + pattern + "' is not an exact host name");
}

TEST_CASE("a secret name follows the secret store's alphabet", "[config][secret]") {
  CHECK(check_secret_name("github-token").has_value());
  CHECK(check_secret_name("_ok.name-1").has_value());
  CHECK(check_secret_name("bad/name").error().message == "invalid secret name 'bad/name'");
  CHECK(check_secret_name("\x1b").error().message == "invalid secret name '\\x1b'");
}

TEST_CASE("secret hosts must be exact and allowed by egress, and not denied", "[config][secret]") {
  const std::string base = "version = 1\n[egress]\nallow = [\"*.github.com\"]\ndeny = [\"gist.github.com\"]\n[[secret]]\nname = \"t\"\nheader = \"Authorization\"\n";
  CHECK(load_string(base + "hosts = [\"api.github.com\"]\n", "S", kDir).has_value());
  CHECK(load_err(base + "hosts = [\"gist.github.com\"]\n").details[0].message == "secret host 'gist.github.com' is not allowed by [egress]");
  CHECK(load_err(base + "hosts = [\"github.com\"]\n").details[0].message == "secret host 'github.com' is not allowed by [egress]");
  CHECK(load_err(base + "hosts = [\"*.github.com\"]\n").details[0].message == "secret host '*.github.com' is not an exact host name");
}

TEST_CASE("the same header for the same host from two secrets is refused", "[config][secret]") {
  const sbx::Error e = load_err(R"(version = 1
[egress]
allow = ["api.example.com"]
[[secret]]
name = "a"
hosts = ["api.example.com"]
header = "Authorization"
[[secret]]
name = "b"
hosts = ["api.example.com"]
header = "authorization"
)");
  REQUIRE(e.details.size() == 1);
  CHECK(e.details[0].message == "header 'authorization' for 'api.example.com' is already set by the secret at line 4");
}

TEST_CASE("env secrets may not collide with agent env, each other or sbx's variables", "[config][secret]") {
  const sbx::Error e = load_err(R"(version = 1
[agent]
env = { TOKEN = "x" }
[[secret]]
name = "a"
inject = "env"
env = "TOKEN"
[[secret]]
name = "b"
inject = "env"
env = "OTHER"
[[secret]]
name = "c"
inject = "env"
env = "OTHER"
[[secret]]
name = "d"
inject = "env"
env = "HTTPS_PROXY"
)");
  REQUIRE(e.details.size() == 3);
  CHECK(e.details[0].message == "'TOKEN' is also set in [agent] env");
  CHECK(e.details[1].message == "'OTHER' is already set by the secret at line 11");
  CHECK(e.details[2].message == "'HTTPS_PROXY' is set by sbx and cannot be overridden");
}

TEST_CASE("a secret name may not start with '.' or '-', as the secret store requires", "[config][secret]") {
  for (const char* name : {".hidden", "-flag"}) {
    const std::string text = std::string("version = 1\n[[secret]]\nname = \"") + name +
                             "\"\ninject = \"env\"\nenv = \"TOKEN\"\n";
    auto sf = sbx::config::load_string(text, "Sandboxfile", "/tmp");
    REQUIRE_FALSE(sf.has_value());
    REQUIRE(sf.error().details.size() == 1);
    CHECK(sf.error().details[0].message.find("invalid secret name") != std::string::npos);
  }
  CHECK(sbx::config::load_string("version = 1\n[[secret]]\nname = \"_ok.name-1\"\ninject = \"env\"\nenv = \"TOKEN\"\n",
                                 "Sandboxfile", "/tmp").has_value());
}
