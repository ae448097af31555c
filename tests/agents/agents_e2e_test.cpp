// issue 13: `sbx init --agent claude-code && sbx up` gives a sandbox where the real Claude Code
// CLI runs. The first run builds the dev image (mmdebstrap, Debian's registry) and the agent
// layer (npm install -g inside a build VM, npm's registry); the second installs nothing.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>

#include "sbx_runner.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace std::chrono;
using sbx::e2e::Sbx;

namespace {
std::string all(const sbx::e2e::RunResult& r) { return r.out + r.err; }
}  // namespace

TEST_CASE("sbx init --agent claude-code then sbx up runs the real claude, and the second up installs nothing", "[agents]") {
  Sbx sbx;
  sbx::test::TempDir project("sbx-agents-proj");
  sbx::test::TempDir data("sbx-agents-data");
  sbx.env = {"SBX_DATA_DIR=" + data.path().string()};
  const auto init = sbx.run({"init", "--agent", "claude-code", project.path().string()});
  INFO(all(init));
  REQUIRE(init.code == 0);
  // A stand-in key: this test talks to no provider (the flagship test does, to a fake server).
  const auto secret = sbx.run({"secret", "set", "anthropic-api-key"}, "sk-ant-test-not-a-real-key");
  INFO(all(secret));
  REQUIRE(secret.code == 0);

  const auto t0 = steady_clock::now();
  const auto first = sbx.run({"up", "--detach", "--timeout", "600"}, {}, seconds(3300), project.path());
  const double first_s = duration<double>(steady_clock::now() - t0).count();
  INFO(all(first));
  REQUIRE(first.code == 0);
  // The agents cases share one cache: the flagship test may have built the layer already.
  const bool built = all(first).find("inside a build VM") != std::string::npos;
  CHECK((built || all(first).find("image @anthropic-ai/claude-code sha256:") != std::string::npos));
  WARN("first sbx up (" << (built ? "agent layer built" : "agent layer already cached") << "): " << first_s << " s");

  const auto version = sbx.run({"exec", "--", "claude", "--version"}, {}, seconds(300), project.path());
  INFO(all(version));
  CHECK(version.code == 0);
  CHECK(version.out.find("Claude Code") != std::string::npos);

  const auto ls = sbx.run({"image", "ls"}, {}, seconds(60));
  INFO(all(ls));
  CHECK(ls.out.find("dev + @anthropic-ai/claude-code@") != std::string::npos);

  REQUIRE(sbx.run({"down"}, {}, seconds(120), project.path()).code == 0);
  const auto t1 = steady_clock::now();
  const auto second = sbx.run({"up", "--detach"}, {}, seconds(600), project.path());
  const double second_s = duration<double>(steady_clock::now() - t1).count();
  INFO(all(second));
  REQUIRE(second.code == 0);
  // Nothing built, nothing installed, no registry asked: the layer is found by the spec's ref.
  CHECK(all(second).find("inside a build VM") == std::string::npos);
  CHECK(all(second).find("mmdebstrap") == std::string::npos);
  CHECK(all(second).find("cached") != std::string::npos);
  WARN("second sbx up (cached agent image): " << second_s << " s");
  CHECK(sbx.run({"exec", "--", "claude", "--version"}, {}, seconds(300), project.path()).code == 0);
  sbx.run({"down"}, {}, seconds(120), project.path());
}
