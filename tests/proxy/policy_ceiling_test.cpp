// The running proxy under real policy files, loaded the way the egress child loads them
// (supervisor/egress_limits.h): a ceiling refuses what the Sandboxfile allows with a 403 naming
// the policy file:line, edits and new files apply to the next connection without a restart, and
// a policy that stops loading or verifying on reload refuses everything (fail closed).
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <fstream>
#include <thread>

#include "policy/signature.h"
#include "supervisor/egress_limits.h"
#include "test_support.h"

using namespace sbx;
using namespace sbx::proxy;
using namespace sbx::proxy::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  // A new inode each time, as editors and `mv` do (the fingerprint also sees in-place edits).
  const fs::path tmp = p.string() + ".new";
  std::ofstream(tmp, std::ios::binary) << text;
  fs::rename(tmp, p);
}

std::string policy_text(const std::string& name, const std::string& ceiling, const std::string& enforcement = "enforce") {
  return "version = 1\nname = \"" + name + "\"\nenforcement = \"" + enforcement + "\"\n\n[egress]\nceiling = " + ceiling + "\n";
}

// A proxy allowing ok.test and 127.0.0.1 on the upstream's port, with the limits of `sources`
// loaded and watched like the egress child does.
struct Fixture {
  Upstream up{"plain", false};
  TempDir dir;
  std::string port = std::to_string(up.port);
  std::unique_ptr<Proxy> proxy;
  std::uint16_t listen = 0;
  fs::path log = dir.path / "egress.jsonl";

  void start(const policy::Sources& sources) {
    ::signal(SIGPIPE, SIG_IGN);  // the proxy runs in this process here (the egress child ignores it too)
    ProxyOptions opt;
    opt.resolver = *StaticResolver::from_specs({"ok.test=127.0.0.1"});
    opt.egress_log = log;
    auto p = Proxy::create(std::move(opt), Policy{egress({"ok.test:" + port, "127.0.0.1/32:" + port}), {}, "Sandboxfile"});
    REQUIRE(p);
    proxy = std::move(*p);
    proxy->watch_limits([sources] { return policy::sources_fingerprint(sources); },
                        [sources] { return supervisor::load_limits(sources); });
    proxy->set_limits(supervisor::load_limits(sources));
    listen = *proxy->listen("127.0.0.1:0");
    proxy->start();
  }
  std::string get(const std::string& host) {
    return roundtrip(listen, "GET http://" + host + ":" + port + "/x HTTP/1.1\r\nHost: " + host + ":" + port +
                                "\r\nConnection: close\r\n\r\n");
  }
  // The next response to `host` that starts with `status`, within 5 s of polling (reloads are polled).
  std::string wait_for(const std::string& host, const std::string& status) {
    std::string r;
    for (int i = 0; i < 100; ++i) {
      r = get(host);
      if (r.starts_with(status)) return r;
      std::this_thread::sleep_for(50ms);
    }
    return r;
  }
};

}  // namespace

TEST_CASE("a policy ceiling refuses a host the Sandboxfile allows, and edits to the policy apply to the next connection",
          "[proxy][limits][e2e][security]") {
  Fixture f;
  const fs::path file = f.dir.path / "policies" / "acme.toml";
  write(file, policy_text("acme", "[\"ok.test:" + f.port + "\", \"127.0.0.0/8:" + f.port + "\"]"));
  f.start({f.dir.path / "etc", f.dir.path / "user", {file}});
  auto r = f.get("ok.test");
  INFO(r);
  REQUIRE(r.starts_with("HTTP/1.1 200"));
  CHECK(f.get("127.0.0.1").starts_with("HTTP/1.1 200"));

  // Tightened: ok.test and the address are outside the new ceiling (line 6 of the file).
  write(file, policy_text("acme", "[\"*.example.com:443\"]"));
  r = f.wait_for("ok.test", "HTTP/1.1 403");
  INFO(r);
  REQUIRE(r.starts_with("HTTP/1.1 403"));
  CHECK(r.find("rule: " + file.string() + ":6 (egress.ceiling of policy 'acme')") != std::string::npos);
  CHECK(r.find("outside the egress ceiling of policy 'acme'") != std::string::npos);
  CHECK(r.find("set by an organisation policy") != std::string::npos);
  CHECK(r.find("add this line") == std::string::npos);  // no Sandboxfile line can fix it
  CHECK(f.get("127.0.0.1").starts_with("HTTP/1.1 403"));
  auto recs = wait_records(f.log, 4);
  const auto denied = std::find_if(recs.begin(), recs.end(), [](const auto& j) { return j["decision"] == "deny"; });
  REQUIRE(denied != recs.end());
  CHECK((*denied)["host"] == "ok.test");
  CHECK((*denied)["policy"] == "acme");
  CHECK((*denied)["rule"] == file.string() + ":6");

  // Warn: the connection passes and its log line says what the ceiling would have refused.
  write(file, policy_text("acme", "[\"*.example.com:443\"]", "warn"));
  r = f.wait_for("ok.test", "HTTP/1.1 200");
  REQUIRE(r.starts_with("HTTP/1.1 200"));
  recs = wait_records(f.log, 100);
  REQUIRE_FALSE(recs.empty());
  const auto& last = recs.back();
  CHECK(last["decision"] == "allow");
  REQUIRE(last.contains("policy_warnings"));
  CHECK(last["policy_warnings"][0].get<std::string>().find("policy 'acme' (warn) would refuse this") != std::string::npos);
  CHECK(f.proxy->stats().limit_reloads >= 2);
}

TEST_CASE("a policy added to a discovery directory applies to the next connection, and removing it lifts it",
          "[proxy][limits][e2e][security]") {
  Fixture f;
  const fs::path user = f.dir.path / "user";
  fs::create_directories(user);
  f.start({f.dir.path / "etc", user, {}});
  REQUIRE(f.get("ok.test").starts_with("HTTP/1.1 200"));
  write(user / "20-tight.toml", policy_text("tight", "[\"api.example.com\"]"));
  auto r = f.wait_for("ok.test", "HTTP/1.1 403");
  INFO(r);
  CHECK(r.find((user / "20-tight.toml").string() + ":6") != std::string::npos);
  fs::remove(user / "20-tight.toml");
  CHECK(f.wait_for("ok.test", "HTTP/1.1 200").starts_with("HTTP/1.1 200"));
}

TEST_CASE("a system policy that is tampered with while the sandbox runs makes the proxy refuse everything",
          "[proxy][limits][e2e][security]") {
  Fixture f;
  const fs::path etc = f.dir.path / "etc";
  const auto key = *policy::generate_key();
  write(etc / "trusted-keys.d" / "org.pub", key.public_text);
  const fs::path file = etc / "policies.d" / "10-org.toml";
  // A name that resolves to loopback needs a ceiling range for it, as it needs a Sandboxfile one.
  const std::string text = policy_text("org", "[\"ok.test:" + f.port + "\", \"127.0.0.1/32:" + f.port + "\"]");
  write(file, text);
  write(policy::signature_path(file), *policy::sign_policy(text, key.secret_text));
  f.start({etc, f.dir.path / "user", {}});
  const auto first = f.get("ok.test");
  INFO(first);
  REQUIRE(first.starts_with("HTTP/1.1 200"));
  CHECK(f.get("127.0.0.1").starts_with("HTTP/1.1 200"));

  // Widened without a new signature: not "no ceiling", not the old one either: nothing passes.
  write(file, policy_text("org", "[\"ok.test:" + f.port + "\", \"127.0.0.0/8\", \"*.example.com\"]"));
  auto r = f.wait_for("ok.test", "HTTP/1.1 403");
  INFO(r);
  REQUIRE(r.starts_with("HTTP/1.1 403"));
  CHECK(r.find("cannot be loaded") != std::string::npos);
  CHECK(r.find("is not trusted") != std::string::npos);
  CHECK(f.get("127.0.0.1").starts_with("HTTP/1.1 403"));
  CHECK(f.proxy->stats().limit_failures >= 1);

  // A policy that no longer parses fails closed the same way; fixing it restores service.
  write(file, "version = 1\n[egress\n");
  r = f.wait_for("ok.test", "HTTP/1.1 403");
  CHECK(r.find("cannot be loaded") != std::string::npos);
  write(file, text);
  CHECK(f.wait_for("ok.test", "HTTP/1.1 200").starts_with("HTTP/1.1 200"));
}
