// End to end: `sbx up` with a registry image. tests/image/registry_fixture.py runs Debian's
// docker-registry on loopback and pushes a busybox image into it; sbx pulls, verifies, imports
// and boots it (one boot). A blob corrupted in the registry's storage makes `sbx up` fail.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sbx_runner.h"
#include "script_server.h"

using namespace sbx::e2e;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A project directory whose Sandboxfile uses `ref` (and `digest`, if not empty).
fs::path write_project(const fs::path& dir, const std::string& name, const std::string& ref, const std::string& digest,
                       const std::string& command) {
  fs::create_directories(dir);
  std::ofstream f(dir / "Sandboxfile");
  f << "version = 1\nname = \"" << name << "\"\n\n[agent]\npreset = \"shell\"\ncommand = [\"/bin/sh\", \"-c\", \"" << command
    << "\"]\n\n[image]\nref = \"" << ref << "\"\n";
  if (!digest.empty()) f << "digest = \"" << digest << "\"\n";
  f << "\n[resources]\ncpus = 1\nmemory = \"256MiB\"\n";
  return dir;
}

}  // namespace

TEST_CASE("sbx up boots an image pulled from a registry, and refuses one with a corrupted blob", "[e2e][registry]") {
  // The loopback registry with the busybox image, for this test.
  sbx::testing::ScriptServer reg(fs::path(SBX_E2E_SOURCE_DIR) / "tests" / "image" / "registry_fixture.py", {"--busybox"});
  Sbx sbx;
  const json& busybox = reg.info()["images"]["busybox:1"];

  SECTION("a pinned registry image boots and runs its agent command") {
    const fs::path project = write_project(reg.dir() / "boot", "registry-e2e", reg.host() + "/test/busybox:1",
                                           busybox["manifest"].get<std::string>(), "cat /etc/registry-marker; uname -s");
    const auto up = sbx.run({"up", project.string()}, {}, 240s);
    INFO("sbx up stdout: " << up.out << "\nstderr: " << up.err);
    REQUIRE(up.code == 0);
    CHECK(up.out.find("pulled from a registry on loopback") != std::string::npos);
    CHECK(up.out.find("Linux") != std::string::npos);
    CHECK(sbx.run({"down", "--name", "registry-e2e"}, {}, 60s).code == 0);
  }

  SECTION("a corrupted blob makes sbx up fail, naming the digest") {
    const json& img = reg.info()["images"]["corrupt:1"];
    const std::string victim = img["layers"][0];
    {
      std::fstream f(reg.blob_data(victim), std::ios::in | std::ios::out | std::ios::binary);
      REQUIRE(f);
      f.seekp(10);
      f.write("CORRUPTED", 9);
    }
    const fs::path project = write_project(reg.dir() / "corrupt", "registry-corrupt", reg.host() + "/test/corrupt:1", "", "true");
    const auto up = sbx.run({"up", project.string()}, {}, 120s);
    INFO("sbx up stdout: " << up.out << "\nstderr: " << up.err);
    CHECK(up.code == 1);
    CHECK(up.err.find(victim) != std::string::npos);
    CHECK(up.err.find("failed verification") != std::string::npos);
  }
}
