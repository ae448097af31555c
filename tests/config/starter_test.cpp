#include <catch2/catch.hpp>

#include "config/loader.h"
#include "config/starter.h"

using namespace sbx::config;

TEST_CASE("every starter Sandboxfile loads and keeps its preset", "[config][starter]") {
  for (AgentPreset p : {AgentPreset::shell, AgentPreset::claude_code, AgentPreset::codex}) {
    const std::string text = starter_sandboxfile(p, "my-proj");
    auto r = load_string(text, "Sandboxfile", "/proj");
    INFO(text << (r ? std::string() : r.error().render()));
    REQUIRE(r.has_value());
    CHECK(r->name == "my-proj");
    CHECK(r->agent.preset == p);
  }
  auto claude = load_string(starter_sandboxfile(AgentPreset::claude_code, "x"), "S", "/proj");
  REQUIRE(claude->secrets.size() == 1);
  CHECK(claude->secrets[0].hosts == std::vector<std::string>{"api.anthropic.com"});
}
