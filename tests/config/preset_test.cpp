#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "config/preset.h"
#include "load_helpers.h"

using namespace sbx::config;
using sbx::config::test::load_err;
using sbx::config::test::load_ok;

namespace {
bool has(const std::vector<std::string>& v, std::string_view s) { return std::find(v.begin(), v.end(), s) != v.end(); }

constexpr std::string_view kMinimalPreset = R"(
description = "a test agent"
image = "dev"
[package]
npm = "@example/agent-cli"
version = "1.2.3"
bin = "agent-cli"
[command]
interactive = ["agent-cli"]
headless = ["agent-cli", "--print"]
[egress]
allow = ["api.example.com"]
[secret]
name = "example-key"
hosts = ["api.example.com"]
header = "Authorization"
template = "Bearer {}"
)";
}  // namespace

TEST_CASE("every preset file in src/config/presets is embedded and parses", "[config][preset]") {
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SBX_SOURCE_DIR) + "/src/config/presets"))
    files += e.path().extension() == ".toml";
  CHECK(presets().size() == files);
  const auto names = preset_names();
  for (std::string_view n : {"claude-code", "codex", "copilot", "gemini", "opencode", "shell"}) CHECK(find_preset(n) != nullptr);
  CHECK(std::is_sorted(names.begin(), names.end()));
  for (const Preset& p : presets()) {
    INFO(p.name);
    CHECK_FALSE(p.command.empty());
    CHECK_FALSE(p.headless.empty());
    CHECK_FALSE(p.description.empty());
    if (p.package) {
      CHECK(p.dev_image);
      CHECK(p.command.front() == p.package->bin);
      // An agent has a provider: its API is allowed and its key bound as a header for it.
      REQUIRE(p.secret.has_value());
      CHECK_FALSE(p.allow.empty());
      CHECK(p.allow.front().location.file == "preset " + p.name + ".toml");
      CHECK(p.allow.front().location.line > 0);
    }
  }
}

TEST_CASE("the claude-code preset says what the issue and npm say", "[config][preset]") {
  const Preset* p = find_preset("claude-code");
  REQUIRE(p);
  REQUIRE(p->package);
  CHECK(p->package->name == "@anthropic-ai/claude-code");
  CHECK(p->package->bin == "claude");
  CHECK(p->headless == std::vector<std::string>{"claude", "-p"});
  CHECK(p->env.at("DISABLE_AUTOUPDATER") == "1");
  CHECK(p->env.at("ANTHROPIC_API_KEY").find("placeholder") != std::string::npos);
  REQUIRE(p->secret);
  CHECK(p->secret->header == "x-api-key");
  CHECK(p->secret->value_template == "{}");
  const Preset* codex = find_preset("codex");
  REQUIRE(codex);
  CHECK(codex->headless == std::vector<std::string>{"codex", "exec"});
  CHECK(codex->secret->value_template == "Bearer {}");
  CHECK_FALSE(codex->quirks.empty());
}

TEST_CASE("a new agent is one file: parse_preset accepts it with no code change", "[config][preset]") {
  auto p = parse_preset(kMinimalPreset, "agent-cli");
  INFO((p ? std::string() : p.error().render()));
  REQUIRE(p);
  CHECK(p->name == "agent-cli");
  CHECK(p->package->version == "1.2.3");
  CHECK(p->secret->hosts == std::vector<std::string>{"api.example.com"});
  CHECK(p->headless == std::vector<std::string>{"agent-cli", "--print"});
}

TEST_CASE("a broken preset file is refused with every problem at its line", "[config][preset]") {
  const auto err = [](std::string text) {
    auto p = parse_preset(text, "bad");
    REQUIRE_FALSE(p);
    return p.error().render();
  };
  std::string t(kMinimalPreset);
  CHECK_THAT(err(t + "colour = \"red\"\n"), Catch::Contains("unknown key 'colour'"));
  std::string bad_name = t;
  bad_name.replace(bad_name.find("@example/agent-cli"), 18, "Example Agent");
  CHECK_THAT(err(bad_name), Catch::Contains("is not an npm package name"));
  std::string bad_version = t;
  bad_version.replace(bad_version.find("1.2.3"), 5, "1.2 || $(reboot)");
  CHECK_THAT(err(bad_version), Catch::Contains("is not an npm version"));
  std::string stray_host = t;
  stray_host.replace(stray_host.find("hosts = [\"api.example.com\"]"), 27, "hosts = [\"evil.example.org\"]");
  CHECK_THAT(err(stray_host), Catch::Contains("[egress] allow"));
  std::string no_dev = t;
  no_dev.replace(no_dev.find("image = \"dev\""), 13, "image = \"builtin\"");
  CHECK_THAT(err(no_dev), Catch::Contains("must say image = \"dev\""));
  std::string proxy_env = t + "[env]\nHTTPS_PROXY = \"http://evil\"\n";
  CHECK_THAT(err(proxy_env), Catch::Contains("not a variable a preset may set"));
  CHECK_THAT(err("description = \"x\"\n"), Catch::Contains("missing [command]"));
}

TEST_CASE("npm versions: exact ones need no resolution, specs are one safe argument", "[config][preset]") {
  CHECK(is_exact_npm_version("2.1.332"));
  CHECK(is_exact_npm_version("0.171.0-linux-x64"));
  CHECK(is_exact_npm_version("1.0.0+build.5"));
  CHECK_FALSE(is_exact_npm_version("latest"));
  CHECK_FALSE(is_exact_npm_version("^2.1"));
  CHECK_FALSE(is_exact_npm_version("2.1"));
  CHECK_FALSE(is_exact_npm_version("2.1.x"));
  CHECK(is_npm_version_spec(">=2.1.0"));
  CHECK_FALSE(is_npm_version_spec("1 2"));
  CHECK_FALSE(is_npm_version_spec("--registry=x"));
  CHECK_FALSE(is_npm_version_spec("a;b"));
  CHECK(is_npm_package_name("@openai/codex"));
  CHECK(is_npm_package_name("opencode-ai"));
  CHECK_FALSE(is_npm_package_name("@scope"));
  CHECK_FALSE(is_npm_package_name("../x"));
  CHECK_FALSE(is_npm_package_name("Upper"));
}

TEST_CASE("a Sandboxfile naming only a preset gets everything else from it, and says so", "[config][preset]") {
  const auto f = load_ok("version = 1\n[agent]\npreset = \"claude-code\"\n");
  CHECK(f.agent.command == std::vector<std::string>{"claude"});
  CHECK(f.agent.headless == std::vector<std::string>{"claude", "-p"});
  CHECK(f.image.kind == ImageKind::dev);
  REQUIRE(f.agent.package);
  CHECK(f.agent.package->name == "@anthropic-ai/claude-code");
  CHECK(f.agent.env.at("DISABLE_AUTOUPDATER") == "1");
  CHECK(f.resources.memory_bytes == 2ull << 30);
  CHECK(f.resources.cpus == 2);
  REQUIRE(f.egress.allow.size() == 1);
  CHECK(f.egress.allow[0].pattern == "api.anthropic.com");
  CHECK(f.egress.allow[0].location.file == "preset claude-code.toml");
  REQUIRE(f.secrets.size() == 1);
  CHECK(f.secrets[0].header == "x-api-key");
  for (std::string_view k : {"agent.command", "agent.env.DISABLE_AUTOUPDATER", "image", "resources.memory", "resources.cpus",
                             "egress.allow", "secret.anthropic-api-key", "agent.package", "agent.version"})
    CHECK(has(f.from_preset, k));
}

TEST_CASE("everything a preset gives is overridden by the Sandboxfile, key by key", "[config][preset]") {
  const auto f = load_ok(R"(version = 1
[agent]
preset = "claude-code"
command = ["claude", "--debug"]
version = "2.1.332"
env = { DISABLE_AUTOUPDATER = "0" }
[resources]
memory = "3GiB"
[egress]
allow = ["api.anthropic.com:443", "statsig.anthropic.com"]
[[secret]]
name = "my-key"
hosts = ["api.anthropic.com"]
header = "x-api-key"
)");
  CHECK(f.agent.command == std::vector<std::string>{"claude", "--debug"});
  CHECK(f.agent.package->version == "2.1.332");
  CHECK(f.agent.env.at("DISABLE_AUTOUPDATER") == "0");
  CHECK(f.agent.env.at("DISABLE_TELEMETRY") == "1");  // the other variables still come
  CHECK(f.resources.memory_bytes == 3ull << 30);
  CHECK(f.resources.cpus == 2);
  CHECK(f.egress.allow.size() == 2);
  REQUIRE(f.secrets.size() == 1);
  CHECK(f.secrets[0].name == "my-key");
  for (std::string_view k : {"agent.command", "agent.version", "agent.env.DISABLE_AUTOUPDATER", "resources.memory", "egress.allow",
                             "secret.anthropic-api-key"})
    CHECK_FALSE(has(f.from_preset, k));
  CHECK(has(f.from_preset, "resources.cpus"));
}

TEST_CASE("a Sandboxfile's own image keeps the preset's package out, and its version is then an error", "[config][preset]") {
  const auto own = load_ok("version = 1\n[agent]\npreset = \"codex\"\n[image]\nref = \"./rootfs\"\n");
  CHECK(own.image.kind == ImageKind::rootfs_dir);
  CHECK_FALSE(own.agent.package);
  CHECK(own.agent.command == std::vector<std::string>{"codex"});
  CHECK_THAT(load_err("version = 1\n[agent]\npreset = \"codex\"\nversion = \"1.0.0\"\n[image]\nref = \"./rootfs\"\n").render(),
             Catch::Contains("'version' applies only to the dev image"));
  CHECK_THAT(load_err("version = 1\n[agent]\npreset = \"shell\"\nversion = \"1.0.0\"\n").render(),
             Catch::Contains("'version' applies only to a preset with an npm package"));
  CHECK_THAT(load_err("version = 1\n[agent]\npreset = \"codex\"\nversion = \"1 || x\"\n").render(), Catch::Contains("invalid version"));
  const auto dev_shell = load_ok("version = 1\n[image]\nref = \"dev\"\n");
  CHECK(dev_shell.image.kind == ImageKind::dev);
  CHECK_FALSE(dev_shell.agent.package);
}

TEST_CASE("narrowing [egress] drops the preset's secret binding instead of sending the key elsewhere", "[config][preset][security]") {
  const auto f = load_ok("version = 1\n[agent]\npreset = \"claude-code\"\n[egress]\nallow = [\"pypi.org\"]\n");
  CHECK(f.secrets.empty());
  CHECK_FALSE(has(f.from_preset, "secret.anthropic-api-key"));
  const auto denied = load_ok("version = 1\n[agent]\npreset = \"claude-code\"\n[egress]\ndeny = [\"api.anthropic.com\"]\n");
  CHECK(denied.secrets.empty());
}

TEST_CASE("an unknown preset suggests the closest name from the preset files", "[config][preset]") {
  CHECK_THAT(load_err("version = 1\n[agent]\npreset = \"gemni\"\n").render(), Catch::Contains("did you mean 'gemini'?"));
}

TEST_CASE("the default shell preset keeps the built-in image and grants nothing", "[config][preset]") {
  const auto f = load_ok("version = 1\n");
  CHECK(f.agent.preset == "shell");
  CHECK(f.image.kind == ImageKind::builtin);
  CHECK(f.egress.allow.empty());
  CHECK(f.secrets.empty());
  CHECK_FALSE(f.agent.package);
}
