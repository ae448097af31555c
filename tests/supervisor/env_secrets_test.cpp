#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "guest/protocol/messages.h"
#include "secrets/store.h"
#include "supervisor/env_secrets.h"
#include "support/temp_dir.h"

using namespace sbx;
namespace fs = std::filesystem;

namespace {

// A private key-file store: SBX_DATA_DIR points at a fresh directory for the test's lifetime.
struct PrivateStore {
  sbx::test::TempDir dir{"sbx-env-secrets"};
  PrivateStore() { ::setenv("SBX_DATA_DIR", dir.path().c_str(), 1); }
  ~PrivateStore() { ::unsetenv("SBX_DATA_DIR"); }
  void set(const std::string& name, std::string_view value) {
    secrets::OpenOptions o;
    o.create = true;
    auto store = secrets::Store::open(o);
    REQUIRE(store);
    auto buf = secrets::SecretBuffer::copy_of(value);
    REQUIRE(buf);
    REQUIRE(store->set(name, *buf));
  }
};

guest::protocol::Config parsed(const guest::protocol::Frame& f) {
  auto c = guest::protocol::parse_config(f.payload);
  REQUIRE(c);
  return *c;
}

}  // namespace

TEST_CASE("the CONFIG frame carries each env secret's value under its variable", "[supervisor][secrets]") {
  PrivateStore store;
  store.set("npm-token", "npm_abc123");
  guest::protocol::Config cfg;
  cfg.env["FOO"] = "bar";
  std::vector<std::string> problems;
  const auto frame = supervisor::config_with_env_secrets(cfg, {{"npm-token", "NPM_TOKEN"}}, problems);
  CHECK(problems.empty());
  const auto back = parsed(frame);
  CHECK(back.env.at("NPM_TOKEN") == "npm_abc123");
  CHECK(back.env.at("FOO") == "bar");
}

TEST_CASE("an env secret that cannot be given is left out and named, never with its value", "[supervisor][secrets][security]") {
  PrivateStore store;
  store.set("ok", "fine-value");
  store.set("binary", std::string("a\xff\xfe", 3));
  store.set("nul", std::string("a\0b", 3));
  store.set("huge", std::string(supervisor::kMaxEnvSecretValue + 1, 'x'));
  std::vector<std::string> problems;
  const auto frame = supervisor::config_with_env_secrets(
      {}, {{"ok", "OK"}, {"missing", "MISSING"}, {"binary", "BINARY"}, {"nul", "NUL"}, {"huge", "HUGE"}}, problems);
  const auto back = parsed(frame);
  CHECK(back.env.at("OK") == "fine-value");
  CHECK(back.env.size() == 1);
  REQUIRE(problems.size() == 4);
  CHECK(problems[0].starts_with("secret 'missing' is not in the guest's environment as MISSING: "));
  CHECK(problems[1].find("not UTF-8 text") != std::string::npos);
  CHECK(problems[2].find("NUL") != std::string::npos);
  CHECK(problems[3].find("longer than 16384 bytes") != std::string::npos);
  for (const auto& p : problems) CHECK(p.find("fine-value") == std::string::npos);
}

TEST_CASE("without a store every env secret is named as missing and CONFIG still goes", "[supervisor][secrets]") {
  PrivateStore empty;
  std::vector<std::string> problems;
  const auto frame = supervisor::config_with_env_secrets({}, {{"tok", "TOK"}}, problems);
  CHECK(parsed(frame).env.empty());
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("there is no secret store") != std::string::npos);
}
