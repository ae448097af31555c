#include <catch2/catch.hpp>

#include "policy/discovery.h"
#include "policy/signature.h"
#include "policy_env.h"

using namespace sbx::policy;
using namespace sbx::policy::test;
namespace config = sbx::config;

namespace {

constexpr std::string_view kPolicy = "version = 1\nname = \"org\"\n[mounts]\ndeny = [\"/srv/secrets\"]\n";

struct Signed {
  KeyFiles key = *generate_key();
  fs::path file;
};

// A key installed in the system's trusted keys and one system policy signed by it.
Signed install_signed(PolicyEnv& w) {
  Signed s;
  write(w.system / "trusted-keys.d/org.pub", s.key.public_text);
  s.file = w.system / "policies.d/10-org.toml";
  write(s.file, kPolicy);
  write(signature_path(s.file), *sign_policy(kPolicy, s.key.secret_text));
  return s;
}

std::string refusal(const PolicyEnv&) {
  auto r = discover_policies();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == sbx::ErrorCode::permission);
  return r.error().message;
}

}  // namespace

TEST_CASE("a signature verifies the exact bytes with the key that made it", "[policy][trust][security]") {
  const KeyFiles k = *generate_key();
  const auto pub = parse_public_key(k.public_text, "k.pub");
  REQUIRE(pub.has_value());
  CHECK(pub->id == k.id);
  const std::string sig = *sign_policy(kPolicy, k.secret_text);
  CHECK(verify_policy(kPolicy, sig, {*pub}).value() == k.id);
  CHECK_FALSE(verify_policy(std::string(kPolicy) + "\n", sig, {*pub}).has_value());
}

TEST_CASE("a signed system policy with a trusted key is loaded and names its signer", "[policy][trust]") {
  PolicyEnv w;
  const Signed s = install_signed(w);
  auto r = discover_policies();
  INFO((r ? "" : r.error().render()));
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 1);
  CHECK(r->front().origin == Origin::system);
  CHECK(r->front().signer == s.key.id);
  CHECK(r->front().name == "org");
}

TEST_CASE("a tampered system policy fails closed", "[policy][trust][security]") {
  PolicyEnv w;
  const Signed s = install_signed(w);
  write(s.file, std::string(kPolicy).replace(std::string(kPolicy).find("/srv/secrets"), 12, "/srv/nothing"));
  const std::string why = refusal(w);
  CHECK(why.find(s.file.string()) != std::string::npos);
  CHECK(why.find("does not match its contents") != std::string::npos);
}

TEST_CASE("a truncated signature fails closed", "[policy][trust][security]") {
  PolicyEnv w;
  const Signed s = install_signed(w);
  std::string sig = *sign_policy(kPolicy, s.key.secret_text);
  write(signature_path(s.file), sig.substr(0, sig.size() / 2));
  CHECK(refusal(w).find("truncated or altered") != std::string::npos);
  write(signature_path(s.file), "");
  CHECK(refusal(w).find("is not a policy signature") != std::string::npos);
}

TEST_CASE("a policy signed by an untrusted key fails closed", "[policy][trust][security]") {
  PolicyEnv w;
  const Signed s = install_signed(w);
  const KeyFiles other = *generate_key();
  write(signature_path(s.file), *sign_policy(kPolicy, other.secret_text));
  CHECK(refusal(w).find("which is not a trusted key") != std::string::npos);
  // Claiming the trusted key's id does not help: the signature is checked with that key.
  std::string forged = *sign_policy(kPolicy, other.secret_text);
  forged.replace(forged.find(other.id), other.id.size(), s.key.id);
  write(signature_path(s.file), forged);
  CHECK(refusal(w).find("does not match its contents") != std::string::npos);
}

TEST_CASE("an unsigned system policy fails closed once keys are installed", "[policy][trust][security]") {
  PolicyEnv w;
  const Signed s = install_signed(w);
  write(w.system / "policies.d/20-added.toml", "version = 1\n");
  const std::string why = refusal(w);
  CHECK(why.find((w.system / "policies.d/20-added.toml").string()) != std::string::npos);
  CHECK(why.find("it has no signature") != std::string::npos);
}

TEST_CASE("without trusted keys, system policies need no signature", "[policy][trust]") {
  PolicyEnv w;
  write(w.system / "policies.d/10-org.toml", kPolicy);
  auto r = discover_policies();
  REQUIRE(r.has_value());
  CHECK(r->at(0).signer.empty());
}

TEST_CASE("a malformed trusted key is an error, not an ignored key", "[policy][trust][security]") {
  PolicyEnv w;
  install_signed(w);
  write(w.system / "trusted-keys.d/bad.pub", "sbx-policy-public-key-v1 0000 AAAA\n");
  CHECK_FALSE(discover_policies().has_value());
}

TEST_CASE("policies from the system, user and SBX_POLICY_PATH all apply, in that order", "[policy][discovery]") {
  PolicyEnv w;
  write(w.system / "policies.d/b.toml", "version = 1\nname = \"sys-b\"\n");
  write(w.system / "policies.d/a.toml", "version = 1\nname = \"sys-a\"\n");
  write(w.system / "policies.d/notes.txt", "not a policy");
  write(w.home / ".config/sbx/policies.d/mine.toml", "version = 1\nname = \"user\"\n");
  write(w.root / "ci/one.toml", "version = 1\nname = \"env-file\"\n");
  write(w.root / "ci-dir/two.toml", "version = 1\nname = \"env-dir\"\n");
  w.env.set("SBX_POLICY_PATH", (w.root / "ci/one.toml").string() + ":" + (w.root / "ci-dir").string());
  auto r = discover_policies();
  REQUIRE(r.has_value());
  std::vector<std::string> names;
  std::vector<Origin> origins;
  for (const auto& p : *r) {
    names.push_back(p.name);
    origins.push_back(p.origin);
  }
  CHECK(names == std::vector<std::string>{"sys-a", "sys-b", "user", "env-file", "env-dir"});
  CHECK(origins == std::vector<Origin>{Origin::system, Origin::system, Origin::user, Origin::env, Origin::env});
}

TEST_CASE("a user policy cannot loosen a system policy", "[policy][discovery][security]") {
  PolicyEnv w;
  fs::create_directories(w.root / "srv/secrets");
  write(w.system / "policies.d/org.toml", "version = 1\n[mounts]\ndeny = [\"" + (w.root / "srv/secrets").string() + "\"]\n");
  write(w.home / ".config/sbx/policies.d/loose.toml", "version = 1\nenforcement = \"warn\"\n[mounts]\nallow_rw = true\n");
  const auto policies = *discover_policies();
  const auto f = sandboxfile("version = 1\n[[mount]]\nsource = \"" + (w.root / "srv/secrets").string() + "\"\ntarget = \"/s\"\n", w.project);
  const Report r = check(f, policies);
  CHECK(r.blocked());
}

TEST_CASE("the baseline applies only when no policy is installed", "[policy][discovery]") {
  PolicyEnv w;
  auto none = discover_policies();
  REQUIRE(none.has_value());
  REQUIRE(none->size() == 1);
  CHECK(none->front().origin == Origin::baseline);
  write(w.home / ".config/sbx/policies.d/mine.toml", "version = 1\n");
  CHECK(discover_policies()->front().origin == Origin::user);
}

TEST_CASE("a policy that does not load stops discovery, naming the file", "[policy][discovery][security]") {
  PolicyEnv w;
  write(w.home / ".config/sbx/policies.d/typo.toml", "version = 1\n[mount]\n");
  auto r = discover_policies();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().details.at(0).location.file == (w.home / ".config/sbx/policies.d/typo.toml").string());
  w.env.set("SBX_POLICY_PATH", (w.root / "missing.toml").string());
  fs::remove(w.home / ".config/sbx/policies.d/typo.toml");
  CHECK_FALSE(discover_policies().has_value());
}
