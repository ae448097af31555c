// End to end: a mount's `local` paths (issue 14). What the guest writes under them lands on the
// sandbox disk, not on the host; it survives down/up; `sbx rm` removes it with the disk. A symlink
// on the share where a local path should be is refused, never followed (here one pointing at the
// guest's /etc, which a followed bind would have replaced with an empty writable directory).
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sbx_runner.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using sbx::e2e::RunResult;
using sbx::e2e::Sbx;

namespace {

RunResult exec_in(const Sbx& sbx, const std::string& script, const std::string& user = "agent") {
  return sbx.run({"exec", "--name", "local", "--user", user, "--", "sh", "-c", script}, {}, 120s);
}

}  // namespace

TEST_CASE("local paths live on the sandbox disk, hidden from the host, until rm, and a symlink there is refused", "[e2e][local][security]") {
  Sbx sbx;
  sbx::test::TempDir work("sbx-local-e2e");
  const fs::path proj = work.path() / "proj";
  fs::create_directories(proj / "pkg");
  std::ofstream(proj / "Sandboxfile") << "version = 1\nname = \"local\"\n"
                                      << "[agent]\npreset = \"shell\"\ncommand = [\"/bin/true\"]\n"
                                      << "[resources]\nmemory = \"256MiB\"\ndisk = \"128MiB\"\n"
                                      << "[[mount]]\nsource = \".\"\ntarget = \"/workspace\"\nmode = \"rw\"\n"
                                      << "local = [\"node_modules\", \"pkg/.venv\", \"linked\"]\n";
  fs::create_symlink("/etc", proj / "linked");

  auto up = sbx.run({"up", "--detach", proj.string()}, {}, 240s);
  INFO("sbx up: " << up.err);
  REQUIRE(up.code == 0);

  // The planted link is reported, not followed: /etc in the guest is untouched.
  const auto status = json::parse(sbx.run({"status", "--name", "local", "--json"}, {}, 30s).out, nullptr, false);
  REQUIRE_FALSE(status.is_discarded());
  const std::string warnings = status.value("warnings", json::array()).dump();
  INFO("warnings: " << warnings);
  CHECK(warnings.find("local path /workspace/linked: 'linked' is a symlink or not a directory; refusing to follow it") != std::string::npos);
  CHECK(warnings.find("node_modules") == std::string::npos);
  auto etc = exec_in(sbx, "test -s /etc/passwd && grep -c ' /etc ' /proc/mounts", "root");
  CHECK(etc.out == "0\n");
  CHECK(fs::is_symlink(proj / "linked"));

  // The agent user writes there; the guest sees it on the sandbox disk, hardened (nosuid, nodev).
  auto write = exec_in(sbx, "echo kept > /workspace/node_modules/a.txt && mkdir -p /workspace/node_modules/dep/lib && "
                            "echo v > /workspace/pkg/.venv/b && echo shared > /workspace/shared.txt && "
                            "stat -c %u /workspace/node_modules && grep ' /workspace/node_modules ' /proc/mounts");
  INFO("write: " << write.out << write.err);
  REQUIRE(write.code == 0);
  CHECK(write.out.starts_with("1000\n"));
  CHECK(write.out.find("nosuid") != std::string::npos);
  CHECK(write.out.find("nodev") != std::string::npos);
  // On the host: the mountpoints exist, empty; the files are not there; the plain mount still is.
  CHECK(fs::is_directory(proj / "node_modules"));
  CHECK(fs::is_empty(proj / "node_modules"));
  CHECK(fs::is_directory(proj / "pkg" / ".venv"));
  CHECK(fs::is_empty(proj / "pkg" / ".venv"));
  CHECK(fs::exists(proj / "shared.txt"));

  REQUIRE(sbx.run({"down", "--name", "local"}, {}, 120s).code == 0);
  auto up2 = sbx.run({"up", "--detach", proj.string()}, {}, 240s);
  INFO("second sbx up: " << up2.err);
  REQUIRE(up2.code == 0);
  auto kept = exec_in(sbx, "cat /workspace/node_modules/a.txt /workspace/pkg/.venv/b && test -d /workspace/node_modules/dep/lib");
  CHECK(kept.code == 0);
  CHECK(kept.out == "kept\nv\n");
  CHECK(fs::is_empty(proj / "node_modules"));

  REQUIRE(sbx.run({"down", "--name", "local"}, {}, 120s).code == 0);
  auto rm = sbx.run({"rm", "local"}, {}, 60s);
  INFO("rm: " << rm.err);
  CHECK(rm.code == 0);
  CHECK_FALSE(fs::exists(sbx.sandbox_dir("local") / "disk.ext4"));
  CHECK(fs::is_empty(proj / "node_modules"));
}
