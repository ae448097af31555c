#include <catch2/catch.hpp>

#include "config/canonical.h"
#include "config/loader.h"

using namespace sbx::config;

namespace {
void replace(std::string& s, std::string_view from, std::string_view to) {
  const size_t pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  s.replace(pos, from.size(), to);
}

std::string digest_of(std::string_view text) {
  auto r = load_string(text, "Sandboxfile", "/proj");
  INFO((r ? std::string() : r.error().render()));
  REQUIRE(r.has_value());
  return digest(*r);
}

constexpr std::string_view kBase = R"(version = 1
name = "demo"
[agent]
command = ["/bin/sh", "-c", "true"]
[resources]
cpus = 2
memory = "1GiB"
[egress]
allow = ["api.github.com", "*.npmjs.org:443"]
)";
}  // namespace

TEST_CASE("the digest ignores key order, comments and whitespace", "[config][canonical]") {
  const std::string d = digest_of(kBase);
  CHECK(d.starts_with("sha256:"));
  CHECK(d.size() == 7 + 64);
  CHECK(digest_of(R"(# reordered, commented, re-spaced
name="demo"
version=1

[egress]
allow = [ "api.github.com" ,
          "*.npmjs.org:443" ]   # two rules
[resources]
memory   = "1GiB"
cpus=2

[agent]
  command = [ "/bin/sh", "-c", "true" ]
)") == d);
}

TEST_CASE("the digest ignores spellings that normalise to the same state", "[config][canonical]") {
  const std::string d = digest_of(kBase);
  std::string alt(kBase);
  replace(alt, "\"1GiB\"", "\"1024MiB\"");
  replace(alt, "\"api.github.com\"", "\"API.github.com.:443,80\"");
  CHECK(digest_of(alt) == d);
}

TEST_CASE("the digest changes with any change of meaning", "[config][canonical]") {
  const std::string d = digest_of(kBase);
  std::string cpus(kBase);
  replace(cpus, "cpus = 2", "cpus = 3");
  CHECK(digest_of(cpus) != d);
  std::string rules(kBase);
  replace(rules, "*.npmjs.org:443", "*.npmjs.org:80");
  CHECK(digest_of(rules) != d);
  std::string order(kBase);  // rule order is kept: it is how rules are listed in messages
  replace(order, "[\"api.github.com\", \"*.npmjs.org:443\"]", "[\"*.npmjs.org:443\", \"api.github.com\"]");
  CHECK(digest_of(order) != d);
  std::string trust(kBase);
  replace(trust, "[egress]\n", "[egress]\ntrust_host_ca = true\n");
  CHECK(digest_of(trust) != d);
  std::string untrusted(kBase);  // written as its default: the same state
  replace(untrusted, "[egress]\n", "[egress]\ntrust_host_ca = false\n");
  CHECK(digest_of(untrusted) == d);
}

TEST_CASE("to_json holds the resolved state with defaults", "[config][canonical]") {
  auto r = load_string("version = 1\n", "Sandboxfile", "/proj/x");
  REQUIRE(r.has_value());
  const nlohmann::json j = to_json(*r);
  CHECK(j["name"] == "x");
  CHECK(j["agent"]["preset"] == "shell");
  CHECK(j["agent"]["command"] == nlohmann::json::array({"/bin/sh"}));
  CHECK(j["image"]["kind"] == "builtin");
  CHECK(j["image"]["digest"].is_null());
  CHECK(j["resources"]["memory_bytes"] == 512ull << 20);
  CHECK(j["egress"]["mode"] == "enforce");
  CHECK(j["mounts"].empty());
}

TEST_CASE("a mount's cache policy is part of the desired state", "[config][canonical]") {
  const std::string mount = "[[mount]]\nsource = \".\"\ntarget = \"/w\"\n";
  const std::string base = std::string(kBase) + mount;
  const std::string explicit_auto = base + "cache = \"auto\"\n";
  const std::string always = base + "cache = \"always\"\n";
  CHECK(digest_of(explicit_auto) == digest_of(base));
  CHECK(digest_of(always) != digest_of(base));
  auto r = load_string(always, "Sandboxfile", "/proj");
  REQUIRE(r.has_value());
  CHECK(to_json(*r)["mounts"][0]["cache"] == "always");
}

TEST_CASE("a protect list changes the digest, its order does not", "[config][canonical][security]") {
  const std::string base(kBase);
  const std::string a = digest_of("protect = [\"Makefile\", \"scripts/deploy.sh\"]\n" + base);
  CHECK(a != digest_of(base));
  CHECK(a == digest_of("protect = [\"scripts/deploy.sh\", \"Makefile\"]\n" + base));
}

TEST_CASE("a mount's local paths are part of the desired state, and absent ones leave the digest alone", "[config][canonical]") {
  const std::string base = std::string(kBase) + "[[mount]]\nsource = \".\"\ntarget = \"/w\"\n";
  const std::string one = base + "local = [\"node_modules\"]\n";
  const std::string two = base + "local = [\"node_modules\", \".venv\"]\n";
  CHECK(digest_of(one) != digest_of(base));
  CHECK(digest_of(two) != digest_of(one));
  auto r = load_string(two, "Sandboxfile", "/proj");
  REQUIRE(r.has_value());
  CHECK(to_json(*r)["mounts"][0]["local"] == nlohmann::json({"node_modules", ".venv"}));
  auto plain = load_string(base, "Sandboxfile", "/proj");
  REQUIRE(plain.has_value());
  CHECK_FALSE(to_json(*plain)["mounts"][0].contains("local"));
}
