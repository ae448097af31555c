#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "config/loader.h"
#include "load_helpers.h"

using namespace sbx::config;
using namespace sbx::config::test;
namespace fs = std::filesystem;

TEST_CASE("a file with only a version gets every default filled in", "[config][loader]") {
  const Sandboxfile f = load_ok("version = 1\n");
  CHECK(f.version == 1);
  CHECK(f.name == "my-project-2");
  CHECK(f.project_dir == kDir);
  CHECK(f.file == kDir / "Sandboxfile");
  CHECK(f.agent.preset == "shell");
  CHECK(f.agent.command == std::vector<std::string>{"/bin/sh"});
  CHECK(f.agent.workdir == "/workspace");
  CHECK(f.agent.user == "agent");
  CHECK(f.image.kind == ImageKind::builtin);
  CHECK(f.image.reference == "builtin:default");
  CHECK(f.resources.cpus == 1);
  CHECK(f.resources.memory_bytes == 512ull << 20);
  CHECK(f.resources.disk_bytes == 2ull << 30);
  CHECK(f.mounts.empty());
  CHECK(f.egress.mode == EgressMode::enforce);
  CHECK(f.egress.allow.empty());
  CHECK(f.secrets.empty());
}

TEST_CASE("every section of a full file is read and normalised", "[config][loader]") {
  setenv("HOME", "/home/u", 1);
  const Sandboxfile f = load_ok(R"(
version = 1
name = "web"
[agent]
preset = "claude-code"
args = ["--model", "opus"]
env = { LANG = "C.UTF-8" }
workdir = "/workspace/app/../app/"
user = "dev"
[image]
ref = "./img/agent.tar"
digest = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
[resources]
cpus = 4
memory = "2GiB"
disk = "10G"
[[mount]]
source = "src"
target = "/workspace/src"
mode = "rw"
[[mount]]
source = "~/.cache/pip"
target = "/cache/pip/"
[egress]
mode = "learn"
allow = ["api.anthropic.com", { host = "*.npmjs.org", ports = [443, 443, 80] }]
deny = ["re:^telemetry\\."]
[[secret]]
name = "anthropic-api-key"
hosts = ["API.Anthropic.com"]
header = "x-api-key"
[[secret]]
name = "npm"
inject = "env"
env = "NPM_TOKEN"
)");
  CHECK(f.name == "web");
  CHECK(f.agent.preset == "claude-code");
  CHECK(f.agent.command == std::vector<std::string>{"claude", "--model", "opus"});
  CHECK(f.agent.env.at("LANG") == "C.UTF-8");
  CHECK(f.agent.workdir == "/workspace/app");
  CHECK(f.agent.user == "dev");
  CHECK(f.image.kind == ImageKind::oci_archive);
  CHECK(f.image.reference == (kDir / "img/agent.tar").string());
  CHECK(f.image.digest.has_value());
  CHECK(f.resources.cpus == 4);
  CHECK(f.resources.memory_bytes == 2ull << 30);
  CHECK(f.resources.disk_bytes == 10000000000ull);
  REQUIRE(f.mounts.size() == 2);
  CHECK(f.mounts[0].source == kDir / "src");
  CHECK(f.mounts[0].target == "/workspace/src");
  CHECK(f.mounts[0].writable);
  CHECK(f.mounts[0].location.line == 17);
  CHECK(f.mounts[1].source == "/home/u/.cache/pip");
  CHECK(f.mounts[1].target == "/cache/pip");
  CHECK_FALSE(f.mounts[1].writable);
  CHECK(f.egress.mode == EgressMode::learn);
  REQUIRE(f.egress.allow.size() == 2);
  CHECK(f.egress.allow[1].kind == HostPatternKind::wildcard);
  CHECK(f.egress.allow[1].ports == std::vector<std::uint16_t>{80, 443});
  CHECK(f.egress.allow[1].location.line == 26);
  CHECK(f.egress.allow[1].location.column == 31);
  REQUIRE(f.egress.deny.size() == 1);
  CHECK(f.egress.deny[0].kind == HostPatternKind::regex);
  REQUIRE(f.secrets.size() == 2);
  CHECK(f.secrets[0].inject == InjectKind::header);
  CHECK(f.secrets[0].hosts == std::vector<std::string>{"api.anthropic.com"});
  CHECK(f.secrets[0].header == "x-api-key");
  CHECK(f.secrets[0].value_template == "{}");
  CHECK(f.secrets[1].inject == InjectKind::env);
  CHECK(f.secrets[1].env_var == "NPM_TOKEN");
}

TEST_CASE("a command without a preset makes a custom agent", "[config][loader]") {
  const Sandboxfile f = load_ok("version = 1\n[agent]\ncommand = [\"/usr/bin/make\", \"test\"]\n");
  CHECK(f.agent.preset == "custom");
  CHECK(f.agent.command == std::vector<std::string>{"/usr/bin/make", "test"});
}

TEST_CASE("every error of a file is reported in one run, sorted by position", "[config][loader]") {
  const sbx::Error e = load_err(R"(version = 1
[resources]
cpu = 2
memory = 5
[egres]
[egress]
allow = ["re:(", "ok.com", "a..b"]
)");
  REQUIRE(e.details.size() == 5);
  CHECK(e.code == sbx::ErrorCode::invalid);
  CHECK(e.message == "Sandboxfile: 5 errors");
  CHECK(e.details[0].message == "unknown key 'cpu' in [resources] (did you mean 'cpus'?)");
  CHECK(e.details[0].location.str() == "Sandboxfile:3:1");
  CHECK(e.details[0].source_line == "cpu = 2");
  CHECK(e.details[1].message == "'memory' must be a string with a unit, found an integer");
  CHECK(e.details[1].location.str() == "Sandboxfile:4:10");
  CHECK(e.details[2].message == "unknown table 'egres' (did you mean 'egress'?)");
  CHECK(e.details[2].location.str() == "Sandboxfile:5:2");
  CHECK(e.details[3].message.starts_with("invalid egress rule \"re:(\": invalid RE2 pattern"));
  CHECK(e.details[3].location.str() == "Sandboxfile:7:10");
  CHECK(e.details[4].location.str() == "Sandboxfile:7:28");
}

TEST_CASE("TOML syntax errors become diagnostics at their position", "[config][loader]") {
  const sbx::Error e = load_err("version = 1\nname = \"x\n");
  REQUIRE(e.details.size() == 1);
  CHECK(e.details[0].message.starts_with("invalid TOML: "));
  CHECK(e.details[0].location.line == 2);
}

TEST_CASE("version is required, must be an integer and not newer than this build", "[config][loader]") {
  CHECK(load_err("").details[0].message == "missing 'version'");
  CHECK(load_err("version = \"1\"").details[0].message == "'version' must be an integer, found a string");
  CHECK(load_err("version = 2").details[0].message.find("newer than this sbx reads") != std::string::npos);
  CHECK(load_err("version = 0").details[0].message == "invalid version 0");
}

TEST_CASE("wrong types name the expected and the found type", "[config][loader]") {
  CHECK(load_err("version = 1\nname = 3").details[0].message == "'name' must be a string, found an integer");
  CHECK(load_err("version = 1\nagent = 3").details[0].message == "[agent] must be a table, found an integer");
  CHECK(load_err("version = 1\n[agent]\ncommand = \"sh\"").details[0].message == "'command' must be an array, found a string");
  CHECK(load_err("version = 1\n[resources]\ncpus = 1.5").details[0].message == "'cpus' must be an integer, found a float");
  CHECK(load_err("version = 1\n[egress]\nallow = [1]").details[0].message ==
        "an egress rule must be a string or an inline table, found an integer");
  CHECK(load_err("version = 1\n[mount]\nsource = \".\"").details[0].message == "'mount' must be an array of tables, found a table");
}

TEST_CASE("trust_host_ca is off unless written, and only a boolean turns it on", "[config][loader]") {
  CHECK_FALSE(load_ok("version = 1\n").egress.trust_host_ca);
  CHECK(load_ok("version = 1\n[egress]\ntrust_host_ca = true\n").egress.trust_host_ca);
  CHECK(load_err("version = 1\n[egress]\ntrust_host_ca = \"yes\"\n").details[0].message ==
        "'trust_host_ca' must be a boolean, found a string");
}

TEST_CASE("duplicate egress rules are kept once", "[config][loader]") {
  const Sandboxfile f = load_ok("version = 1\n[egress]\nallow = [\"a.com\", \"A.com.\", \"a.com:80,443\", { host = \"a.com\" }, \"a.com:443\"]\n");
  REQUIRE(f.egress.allow.size() == 2);
  CHECK(f.egress.allow[1].ports == std::vector<std::uint16_t>{443});
}

TEST_CASE("hostile input is bounded and never crashes the loader", "[config][loader][hostile]") {
  // Over the size cap.
  const std::string big(1024 * 1024 + 1, '#');
  auto r = load_string(big, "S", kDir);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("larger than 1 MiB") != std::string::npos);
  // Deep nesting stops inside toml++'s limit and becomes a diagnostic.
  std::string deep = "version = 1\nx = " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  CHECK_FALSE(load_string(deep, "S", kDir).has_value());
  // Binary garbage, NULs, invalid UTF-8.
  std::string garbage = "version = 1\n\x01\x02\xff\xfe\0[agent]\n";
  garbage.push_back('\0');
  CHECK_FALSE(load_string(garbage, "S", kDir).has_value());
  // A NUL inside a string value.
  CHECK(load_err("version = 1\nname = \"a\\u0000b\"\n").details[0].message == "'name' contains a NUL character");
  // Too many mounts.
  std::string mounts = "version = 1\n";
  for (int i = 0; i < 70; ++i) mounts += "[[mount]]\nsource = \".\"\ntarget = \"/m" + std::to_string(i) + "\"\n";
  CHECK(load_err(mounts).details[0].message.starts_with("too many mounts (70)"));
  // Thousands of errors are cut at 50.
  std::string many = "version = 1\n";
  for (int i = 0; i < 500; ++i) many += "k" + std::to_string(i) + " = 1\n";
  const sbx::Error e = load_err(many);
  CHECK(e.details.size() == 50);
  CHECK(e.message.find("stopped after 50") != std::string::npos);
  // Terminal escapes in keys are shown escaped, never raw.
  const sbx::Error esc = load_err("version = 1\n\"\\u001b[31mred\" = 1\n");
  CHECK(esc.details[0].message == "unknown key '\\x1b[31mred'");
  const sbx::Error raw = load_err("version = 1\nx = 1 # \x1b[0m\n");
  CHECK(raw.details[0].source_line == "x = 1 # ?[0m");
}

TEST_CASE("load_file accepts a directory or a file and reports a missing Sandboxfile", "[config][loader]") {
  const fs::path dir = fs::temp_directory_path() / ("sbx-config-test-" + std::to_string(::getpid()));
  fs::create_directories(dir / "Proj.Dir");
  {
    std::ofstream(dir / "Proj.Dir" / "Sandboxfile") << "version = 1\n[[mount]]\nsource = \"..\"\ntarget = \"/up\"\n";
  }
  auto by_dir = load_file(dir / "Proj.Dir");
  REQUIRE(by_dir.has_value());
  CHECK(by_dir->name == "proj-dir");
  CHECK(by_dir->file == dir / "Proj.Dir" / "Sandboxfile");
  CHECK(by_dir->mounts.at(0).source == dir);
  auto by_file = load_file(dir / "Proj.Dir" / "Sandboxfile");
  REQUIRE(by_file.has_value());
  auto missing = load_file(dir);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == sbx::ErrorCode::not_found);
  CHECK(missing.error().hint.find("sbx init") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("every valid example in the spec loads", "[config][loader][examples]") {
  for (const auto& entry : fs::directory_iterator(fs::path(SBX_SPEC_DIR) / "examples" / "valid")) {
    INFO(entry.path());
    auto r = load_file(entry.path());
    INFO((r ? std::string() : r.error().render()));
    CHECK(r.has_value());
  }
}

TEST_CASE("non-ASCII characters where toml++ 3.3 checks for whitespace are plain syntax errors", "[config][loader][hostile]") {
  // U+03A1 and U+00A7 hit the unreachable branch of toml++ 3.3's generated tables (fuzzer finding).
  for (std::string_view text : {"version = 1\nname =\xce\xa1\"x\"\n", "version = 1\nname = \"x\"\xce\xa1\n",
                                "version = 1\n\xc2\xa7 = 1\n", "s = \"\"\"\\\n\xc2\xa7\"\"\"\n", "\xcc\xaa"}) {
    auto r = load_string(text, "S", kDir);
    REQUIRE_FALSE(r.has_value());
    CHECK_FALSE(r.error().details.empty());
  }
}

TEST_CASE("a mount's cache policy defaults to auto and reads always", "[config][loader][mount]") {
  const Sandboxfile f = load_ok(R"(
version = 1
[[mount]]
source = "a"
target = "/a"
[[mount]]
source = "b"
target = "/b"
cache = "always"
[[mount]]
source = "c"
target = "/c"
cache = "auto"
)");
  REQUIRE(f.mounts.size() == 3);
  CHECK(f.mounts[0].cache == MountCache::auto_);
  CHECK(f.mounts[1].cache == MountCache::always);
  CHECK(f.mounts[2].cache == MountCache::auto_);
}

TEST_CASE("an unknown mount cache policy names the two that exist", "[config][loader][mount]") {
  const sbx::Error e = load_err("version = 1\n[[mount]]\nsource = \"a\"\ntarget = \"/a\"\ncache = \"delegated\"\n");
  const std::string all = e.render();
  CHECK(all.find("Sandboxfile:5:9") != std::string::npos);
  CHECK(all.find("invalid mount cache 'delegated'") != std::string::npos);
  CHECK(all.find("cache = \"auto\"") != std::string::npos);
  CHECK(all.find("cache = \"always\"") != std::string::npos);
}

TEST_CASE("[agent] user takes the forms an image's User may take, and nothing else", "[config][loader]") {
  for (const char* ok : {"dev", "root", "app.user", "1000", "1000:1000", "www-data:www-data"}) {
    INFO(ok);
    CHECK(load_ok(std::string("version = 1\n[agent]\nuser = \"") + ok + "\"\n").agent.user == ok);
  }
  for (const char* bad : {"Root", "a:b:c", "../x", "12345678901", "name;rm"}) {
    INFO(bad);
    const sbx::Error e = load_err(std::string("version = 1\n[agent]\nuser = \"") + bad + "\"\n");
    REQUIRE(e.details.size() == 1);
    CHECK(e.details[0].message == std::string("invalid user name '") + bad + "'");
  }
}

TEST_CASE("a Sandboxfile cannot set a proxy variable in another case, where some programs still read it", "[config][loader][security]") {
  // Python's urllib, for one, takes *_proxy in any case: "Https_Proxy" would redirect it.
  const sbx::Error e = load_err(R"(version = 1
[agent]
env = { Https_Proxy = "http://evil:8080", sbx_state = "x" }
[[secret]]
name = "t"
inject = "env"
env = "All_Proxy"
)");
  REQUIRE(e.details.size() == 3);
  CHECK(e.details[0].message == "'Https_Proxy' is set by sbx and cannot be overridden");
  CHECK(e.details[1].message == "'sbx_state' is set by sbx and cannot be overridden");
  CHECK(e.details[2].message == "'All_Proxy' is set by sbx and cannot be overridden");
}

TEST_CASE("protect lists relative paths below a mount's source, normalised and sorted", "[config][loader][security]") {
  const auto f = test::load_ok("version = 1\nprotect = [\"scripts/deploy.sh\", \"Makefile\", \"bin/\", \"Makefile\"]\n");
  CHECK(f.protect == std::vector<std::string>{"Makefile", "bin", "scripts/deploy.sh"});
  for (const char* bad : {"../outside", "/etc/passwd", "a/./b", "a//b", "a/.."}) {
    INFO(bad);
    const auto e = test::load_err(std::string("version = 1\nprotect = [\"") + bad + "\"]\n");
    CHECK(e.render().find("invalid protected path") != std::string::npos);
  }
}
