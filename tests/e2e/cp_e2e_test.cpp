// End to end: `sbx cp` both ways (issue 14). A host tree goes in with its modes and its symlinks as
// symlinks; a guest tree comes out with its modes; a guest root that replaces the guest's tar with
// one sending a symlink and then a file "through" it writes nothing outside the destination.
#include <catch2/catch.hpp>

#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>

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
  return sbx.run({"exec", "--name", "cp", "--user", user, "--", "sh", "-c", script}, {}, 120s);
}

int host_sh(const std::string& script) {
  const int status = std::system(script.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

mode_t mode_of(const fs::path& p) {
  struct stat st{};
  return ::lstat(p.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

}  // namespace

TEST_CASE("sbx cp copies trees both ways with their modes and never writes through a guest symlink", "[e2e][cp][security]") {
  Sbx sbx;
  sbx::test::TempDir work("sbx-cp-e2e");
  const fs::path proj = work.path() / "proj", src = work.path() / "src", out = work.path() / "out",
                 outside = work.path() / "outside";
  fs::create_directories(proj);
  fs::create_directories(src / "sub");
  fs::create_directories(out);
  fs::create_directories(outside);
  std::ofstream(proj / "Sandboxfile") << "version = 1\nname = \"cp\"\n[agent]\npreset = \"shell\"\ncommand = [\"/bin/true\"]\n"
                                      << "[resources]\nmemory = \"256MiB\"\ndisk = \"64MiB\"\n";
  std::ofstream(src / "run.sh") << "#!/bin/sh\necho run\n";
  fs::permissions(src / "run.sh", fs::perms(0750));
  std::ofstream(src / "sub" / "data") << "private\n";
  fs::permissions(src / "sub" / "data", fs::perms(0600));
  std::ofstream(work.path() / "host-secret") << "host secret\n";
  fs::create_symlink(work.path() / "host-secret", src / "leak");

  auto up = sbx.run({"up", "--detach", proj.string()}, {}, 240s);
  INFO("sbx up: " << up.err);
  REQUIRE(up.code == 0);

  // Host to sandbox: a new name, then into an existing directory; --json result.
  auto in = sbx.run({"cp", "--name", "cp", "--json", src.string(), "sandbox:/tmp/in"}, {}, 120s);
  INFO("cp in: " << in.out << in.err);
  REQUIRE(in.code == 0);
  const auto j = json::parse(in.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j["ok"] == true);
  CHECK(j["files"] == 2);
  CHECK(j["symlinks"] == 1);
  CHECK(sbx.run({"cp", "--name", "cp", (src / "run.sh").string(), "sandbox:/tmp/"}, {}, 120s).code == 0);
  auto seen = exec_in(sbx, "stat -c '%a %n' /tmp/in/run.sh /tmp/in/sub/data /tmp/run.sh; readlink /tmp/in/leak; "
                           "cat /tmp/in/leak 2>/dev/null; cat /tmp/in/sub/data");
  INFO("guest: " << seen.out << seen.err);
  CHECK(seen.out == "750 /tmp/in/run.sh\n600 /tmp/in/sub/data\n750 /tmp/run.sh\n" + (work.path() / "host-secret").string() +
                        "\nprivate\n");

  // Sandbox to host, with modes; a guest symlink comes back as a symlink, not what it points at.
  REQUIRE(exec_in(sbx, "mkdir -p /tmp/d/sub && echo x > /tmp/d/x && chmod 640 /tmp/d/x && chmod 700 /tmp/d/sub && "
                       "ln -s /etc /tmp/d/link").code == 0);
  auto back = sbx.run({"cp", "--name", "cp", "sandbox:/tmp/d", out.string()}, {}, 120s);
  INFO("cp out: " << back.err);
  REQUIRE(back.code == 0);
  CHECK(mode_of(out / "d" / "x") == 0640);
  CHECK(mode_of(out / "d" / "sub") == 0700);
  CHECK(fs::is_symlink(out / "d" / "link"));
  CHECK(sbx.run({"cp", "--name", "cp", "sandbox:/etc/passwd", (out / "passwd").string()}, {}, 120s).code == 0);
  CHECK(fs::is_regular_file(out / "passwd"));

  // A hostile guest: root replaces tar with one that sends d/link -> OUTSIDE, then d/link/evil.
  REQUIRE(host_sh("set -e; cd '" + work.path().string() + "'; mkdir -p e1/d e2/d/link; ln -s '" + outside.string() +
                  "' e1/d/link; echo pwned > e2/d/link/evil; tar -cf evil.tar -C e1 d; tar -cf e2.tar -C e2 d/link/evil; "
                  "tar -Af evil.tar e2.tar") == 0);
  REQUIRE(sbx.run({"cp", "--name", "cp", (work.path() / "evil.tar").string(), "sandbox:/tmp/evil.tar"}, {}, 120s).code == 0);
  REQUIRE(exec_in(sbx, "rm /bin/tar && printf '#!/bin/sh\\nexec cat /tmp/evil.tar\\n' > /bin/tar && chmod 755 /bin/tar", "root").code == 0);
  fs::create_directories(out / "again");
  auto evil = sbx.run({"cp", "--name", "cp", "sandbox:/tmp/d", (out / "again").string()}, {}, 120s);
  INFO("hostile cp: " << evil.err);
  CHECK(evil.code == 1);
  CHECK(evil.err.find("'d/link/evil' would be written through a symlink or a non-directory; refused") != std::string::npos);
  CHECK(fs::is_empty(outside));

  // Usage errors are clear.
  auto both = sbx.run({"cp", "--name", "cp", "sandbox:/a", "sandbox:/b"}, {}, 30s);
  CHECK(both.code == 2);
  CHECK(both.err.find("both paths are in the sandbox") != std::string::npos);
  sbx.run({"down", "--name", "cp"}, {}, 120s);
}
