#include <catch2/catch.hpp>

#include "reconcile/approval.h"

#include <algorithm>
#include <cstdlib>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "config/loader.h"
#include "support/temp_dir.h"

using namespace sbx;
using reconcile::Change;
using reconcile::Grants;

namespace {

// A Sandboxfile of the project /p/demo with `body` after its header.
config::Sandboxfile load(const std::string& body) {
  const std::string text = "version = 1\nname = \"demo\"\n[image]\nref = \"builtin\"\n" + body;
  auto f = config::load_string(text, "/p/demo/Sandboxfile", "/p/demo");
  INFO((f ? std::string() : f.error().message));
  REQUIRE(f);
  return *f;
}

Grants grants(const std::string& body) { return reconcile::grants_of(load(body), {}); }

std::vector<Change> diff(const std::string& approved, const std::string& desired) {
  return reconcile::compare(grants(approved), grants(desired));
}

bool has_line(const std::vector<Change>& changes, const std::string& part, bool widens) {
  return std::any_of(changes.begin(), changes.end(),
                     [&](const Change& c) { return c.widens == widens && c.line.find(part) != std::string::npos; });
}

const std::string kRo = "[[mount]]\nsource = \".\"\ntarget = \"/workspace\"\n";
const std::string kRw = "[[mount]]\nsource = \".\"\ntarget = \"/workspace\"\nmode = \"rw\"\n";

}  // namespace

TEST_CASE("an unchanged Sandboxfile needs no approval", "[reconcile][security]") {
  const std::string f = kRw + "[egress]\nallow = [\"api.example.com\", \"*.example.org\"]\n";
  CHECK(diff(f, f).empty());
}

TEST_CASE("a new egress allow rule widens and names its line", "[reconcile][security]") {
  const auto c = diff(kRw + "[egress]\nallow = [\"api.example.com\"]\n",
                      kRw + "[egress]\nallow = [\"api.example.com\", \"*.com\"]\n");
  CHECK(reconcile::any_widens(c));
  CHECK(has_line(c, "+ egress allow \"*.com\"", true));
  CHECK(has_line(c, "(Sandboxfile:", true));
}

TEST_CASE("a removed allow rule narrows and is applied without a question", "[reconcile][security]") {
  const auto c = diff(kRw + "[egress]\nallow = [\"api.example.com\", \"*.example.org\"]\n",
                      kRw + "[egress]\nallow = [\"api.example.com\"]\n");
  CHECK_FALSE(reconcile::any_widens(c));
  CHECK(has_line(c, "- egress allow \"*.example.org\"", false));
}

TEST_CASE("an exact host under an approved wildcard is covered, the wildcard's apex is not", "[reconcile][security]") {
  const std::string approved = "[egress]\nallow = [\"*.example.org\"]\n";
  CHECK_FALSE(reconcile::any_widens(diff(approved, "[egress]\nallow = [\"a.example.org\", \"*.b.example.org\"]\n")));
  CHECK(reconcile::any_widens(diff(approved, "[egress]\nallow = [\"example.org\"]\n")));
  CHECK(reconcile::any_widens(diff(approved, "[egress]\nallow = [\"*.example.org:8443\"]\n")));  // another port
}

TEST_CASE("a new regex or CIDR widens even where it might match only approved hosts", "[reconcile][security]") {
  const std::string approved = "[egress]\nallow = [\"api.example.com\"]\n";
  CHECK(reconcile::any_widens(diff(approved, "[egress]\nallow = [\"re:^api\\\\.example\\\\.com$\"]\n")));
  CHECK(reconcile::any_widens(diff(approved, "[egress]\nallow = [\"198.51.100.0/24\"]\n")));
  const std::string re = "[egress]\nallow = [\"re:^api[0-9]\\\\.example\\\\.com$\"]\n";
  CHECK_FALSE(reconcile::any_widens(diff(re, re)));  // the same regex is the same grant
}

TEST_CASE("a removed deny rule widens, a new one narrows", "[reconcile][security]") {
  const std::string with = "[egress]\nallow = [\"*.example.org\"]\ndeny = [\"bad.example.org\"]\n";
  const std::string without = "[egress]\nallow = [\"*.example.org\"]\n";
  CHECK(reconcile::any_widens(diff(with, without)));
  CHECK_FALSE(reconcile::any_widens(diff(without, with)));
}

TEST_CASE("learn mode widens", "[reconcile][security]") {
  CHECK(reconcile::any_widens(diff("[egress]\nallow = []\n", "[egress]\nmode = \"learn\"\n")));
  CHECK_FALSE(reconcile::any_widens(diff("[egress]\nmode = \"learn\"\n", "[egress]\nallow = []\n")));
}

TEST_CASE("trusting the host's added CAs widens, dropping the trust narrows", "[reconcile][security]") {
  const auto on = diff("[egress]\nallow = []\n", "[egress]\nallow = []\ntrust_host_ca = true\n");
  CHECK(has_line(on, "trust_host_ca false -> true", true));
  CHECK_FALSE(reconcile::any_widens(diff("[egress]\ntrust_host_ca = true\n", "[egress]\nallow = []\n")));
  const Grants g = grants("[egress]\ntrust_host_ca = true\n");
  auto back = reconcile::grants_from_json(reconcile::grants_to_json(g));
  REQUIRE(back);
  CHECK(back->trust_host_ca);
}

TEST_CASE("a read-only mount made read-write widens, the reverse narrows", "[reconcile][security]") {
  auto c = diff(kRo, kRw);
  CHECK(reconcile::any_widens(c));
  CHECK(has_line(c, "+ mount /p/demo -> /workspace read-write", true));
  CHECK_FALSE(reconcile::any_widens(diff(kRw, kRo)));
}

TEST_CASE("a mount of a directory inside an approved one is covered, of its parent or home is not", "[reconcile][security]") {
  CHECK_FALSE(reconcile::any_widens(diff(kRw, "[[mount]]\nsource = \"src\"\ntarget = \"/src\"\nmode = \"rw\"\n")));
  CHECK(reconcile::any_widens(diff(kRo, kRo + "[[mount]]\nsource = \"..\"\ntarget = \"/up\"\n")));
  CHECK(reconcile::any_widens(diff(kRo, kRo + "[[mount]]\nsource = \"/home\"\ntarget = \"/home2\"\n")));
}

TEST_CASE("a new secret binding or a new host for a bound secret widens", "[reconcile][security]") {
  const std::string one = "[egress]\nallow = [\"api.example.com\", \"up.example.com\"]\n"
                          "[[secret]]\nname = \"tok\"\nhosts = [\"api.example.com\"]\nheader = \"Authorization\"\n";
  const std::string two = "[egress]\nallow = [\"api.example.com\", \"up.example.com\"]\n"
                          "[[secret]]\nname = \"tok\"\nhosts = [\"api.example.com\", \"up.example.com\"]\nheader = \"Authorization\"\n";
  CHECK(reconcile::any_widens(diff("[egress]\nallow = [\"api.example.com\", \"up.example.com\"]\n", one)));
  auto c = diff(one, two);
  CHECK(reconcile::any_widens(c));
  CHECK(has_line(c, "+ secret tok as header Authorization to api.example.com, up.example.com", true));
  CHECK_FALSE(reconcile::any_widens(diff(two, one)));
}

TEST_CASE("another image widens, pinning the approved one to a digest does not", "[reconcile][security]") {
  Grants a = grants(""), d = a;
  d.image = "registry.example/x:1";
  CHECK(reconcile::any_widens(reconcile::compare(a, d)));
  a.image = "registry.example/x:1";
  d.image = "registry.example/x:1@sha256:" + std::string(64, 'a');
  CHECK_FALSE(reconcile::any_widens(reconcile::compare(a, d)));
}

TEST_CASE("a new forwarded port widens", "[reconcile][security]") {
  CHECK(reconcile::any_widens(diff("", "[[port]]\nhost = 8080\nguest = 80\n")));
  CHECK_FALSE(reconcile::any_widens(diff("[[port]]\nhost = 8080\nguest = 80\n", "")));
}

TEST_CASE("a policy that is gone or changed widens, a new one narrows", "[reconcile][security]") {
  const reconcile::PolicyGrant team{"team", "user", "/etc/sbx/policies.d/team.toml", "sha256:1", ""};
  reconcile::PolicyGrant edited = team;
  edited.digest = "sha256:2";
  const auto f = load(kRw);
  CHECK(reconcile::any_widens(reconcile::compare(reconcile::grants_of(f, {team}), reconcile::grants_of(f, {}))));
  CHECK(reconcile::any_widens(reconcile::compare(reconcile::grants_of(f, {team}), reconcile::grants_of(f, {edited}))));
  CHECK_FALSE(reconcile::any_widens(reconcile::compare(reconcile::grants_of(f, {}), reconcile::grants_of(f, {team}))));
}

TEST_CASE("a protected path dropped from the list widens", "[reconcile][security]") {
  Grants a = grants(kRw), d = a;
  d.protect.erase(std::find(d.protect.begin(), d.protect.end(), ".envrc"));
  CHECK(reconcile::any_widens(reconcile::compare(a, d)));
  CHECK_FALSE(reconcile::any_widens(reconcile::compare(d, a)));
}

TEST_CASE("a first up of the README's example grants nothing beyond the baseline", "[reconcile][security]") {
  auto hello = config::load_file(SBX_SOURCE_DIR "/examples/hello");
  REQUIRE(hello);
  const auto c = reconcile::compare(reconcile::baseline_grants(*hello, {}), reconcile::grants_of(*hello, {}));
  for (const auto& ch : c) INFO(ch.line);
  CHECK_FALSE(reconcile::any_widens(c));
}

TEST_CASE("a first up of a file with egress or a read-write mount grants more than the baseline", "[reconcile][security]") {
  const auto f = load(kRo + "[egress]\nallow = [\"api.example.com\"]\n");
  CHECK(reconcile::any_widens(reconcile::compare(reconcile::baseline_grants(f, {}), reconcile::grants_of(f, {}))));
  const auto rw = load(kRw);
  CHECK(reconcile::any_widens(reconcile::compare(reconcile::baseline_grants(rw, {}), reconcile::grants_of(rw, {}))));
}

TEST_CASE("the approval record round-trips, private, and is keyed by the Sandboxfile's path", "[reconcile][security]") {
  sbx::test::TempDir dir;
  ::setenv("SBX_STATE_DIR", dir.path().c_str(), 1);
  const auto path = reconcile::approval_record_path("/p/demo/Sandboxfile");
  CHECK(path != reconcile::approval_record_path("/p/other/Sandboxfile"));
  CHECK(path.string().starts_with(dir.path().string()));
  auto none = reconcile::read_approval(path);
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  const Grants g = grants(kRw + "[egress]\nallow = [\"*.example.org:443\"]\ndeny = [\"x.example.org\"]\n"
                                "[[secret]]\nname = \"tok\"\nhosts = [\"a.example.org\"]\nheader = \"Authorization\"\n");
  REQUIRE(reconcile::write_approval(path, "/p/demo/Sandboxfile", g));
  struct stat st{};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto back = reconcile::read_approval(path);
  REQUIRE(back);
  REQUIRE(back->has_value());
  CHECK(reconcile::compare(g, **back).empty());
  CHECK(reconcile::grants_to_json(g) == reconcile::grants_to_json(**back));
  ::unsetenv("SBX_STATE_DIR");
}

TEST_CASE("turning [docker] on widens, turning it off narrows, and the grant round-trips", "[reconcile][security][docker]") {
  const std::string on_text = "[resources]\nmemory = \"1GiB\"\ndisk = \"8GiB\"\n[docker]\nenabled = true\n";
  const std::string off_text = "[resources]\nmemory = \"1GiB\"\ndisk = \"8GiB\"\n";
  const auto on = diff(off_text, on_text);
  CHECK(has_line(on, "docker disabled -> enabled", true));
  CHECK(reconcile::any_widens(on));
  CHECK_FALSE(reconcile::any_widens(diff(on_text, off_text)));
  CHECK(diff(on_text, on_text).empty());
  const Grants g = grants(on_text);
  CHECK(g.docker);
  const auto j = reconcile::grants_to_json(g);
  CHECK(j["docker"] == true);
  CHECK_FALSE(reconcile::grants_to_json(grants(off_text)).contains("docker"));  // older approvals read the same
  auto back = reconcile::grants_from_json(j);
  REQUIRE(back);
  CHECK(back->docker);
}
