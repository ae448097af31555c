#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/loader.h"
#include "config/preset.h"
#include "config/starter.h"

using namespace sbx::config;

namespace {
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("every starter Sandboxfile loads and keeps its preset", "[config][starter]") {
  REQUIRE(presets().size() >= 6);
  for (const Preset& p : presets()) {
    const std::string text = starter_sandboxfile(p, "my-proj");
    auto r = load_string(text, "Sandboxfile", "/proj");
    INFO(p.name << "\n" << text << (r ? std::string() : r.error().render()));
    REQUIRE(r.has_value());
    CHECK(r->name == "my-proj");
    CHECK(r->agent.preset == p.name);
    if (p.package) {
      // The starter writes the rules and the binding out: nothing of those comes unseen.
      CHECK(r->image.kind == ImageKind::dev);
      REQUIRE(r->agent.package.has_value());
      CHECK(r->agent.package->name == p.package->name);
      CHECK(std::find(r->from_preset.begin(), r->from_preset.end(), "egress.allow") == r->from_preset.end());
      REQUIRE(r->secrets.size() == 1);
      CHECK(r->secrets[0].hosts == p.secret->hosts);
      CHECK(r->secrets[0].location.file == "Sandboxfile");
    }
  }
  auto claude = load_string(starter_sandboxfile(*find_preset("claude-code"), "x"), "S", "/proj");
  REQUIRE(claude->secrets.size() == 1);
  CHECK(claude->secrets[0].hosts == std::vector<std::string>{"api.anthropic.com"});
}

TEST_CASE("each starter matches its golden file byte for byte", "[config][starter][golden]") {
  // SBX_UPDATE_GOLDEN=1 rewrites the files after an intended change; review the diff.
  const bool update = std::getenv("SBX_UPDATE_GOLDEN") != nullptr;
  for (const Preset& p : presets()) {
    const std::string path = std::string(SBX_SPEC_DIR) + "/examples/starters/" + p.name + ".toml";
    const std::string text = starter_sandboxfile(p, "my-proj");
    if (update) std::ofstream(path) << text;
    INFO(path);
    CHECK(read_file(path) == text);
  }
}
