// End to end: the sandbox must not loosen its own leash. A guest with a read-write mount of its
// project can write neither the Sandboxfile nor the git hooks and config the host runs later; and
// a Sandboxfile that grows (as a compromised agent could make it through another path) gets
// nothing new from the next `sbx up` without the user's approval. One boot.
#include <catch2/catch.hpp>
#include <unistd.h>

#include "host_files.h"
#include "sbx_runner.h"

using namespace sbx::e2e;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct TempRoot {
  fs::path path;
  TempRoot() {
    char tmpl[] = "/tmp/sbx-leash-e2e-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempRoot() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string sandboxfile(const std::string& allow) {
  return "version = 1\nname = \"leash\"\n[agent]\ncommand = [\"/bin/true\"]\n"
         "[[mount]]\nsource = \".\"\ntarget = \"/workspace\"\nmode = \"rw\"\n"
         "[egress]\nallow = [" + allow + "]\n";
}

// Each attempt prints NAME=STATUS; the host checks the files themselves afterwards.
constexpr const char* kAttempts =
    "cd /workspace || exit 99\n"
    "echo 'allow = [\"*.com\"]' >> Sandboxfile; echo sandboxfile=$?\n"
    "echo '#!/bin/sh' > .git/hooks/pre-commit; echo hook=$?\n"
    "printf '[core]\\n\\thooksPath = /tmp\\n' >> .git/config; echo config=$?\n"
    "mv .git .git-aside; echo move=$?\n"
    "rm -f Sandboxfile; echo remove=$?\n"
    "echo ok > free.txt; echo free=$?\n"
    "echo ref > .git/ORIG_HEAD; echo gitdir=$?\n";

}  // namespace

TEST_CASE("a guest that rewrites its own Sandboxfile through a rw mount gets nothing new from the next sbx up without approval",
          "[e2e][leash][security]") {
  const TempRoot temp;
  const fs::path proj = temp.path / "proj";
  fs::create_directories(proj / ".git" / "hooks");
  write_file(proj / ".git" / "config", "[core]\n\tbare = false\n");
  write_file(proj / ".git" / "HEAD", "ref: refs/heads/main\n");
  const std::string original = sandboxfile("");
  write_file(proj / "Sandboxfile", original);
  Sbx sbx;
  sbx.env = {"SUDO_UID=", "SUDO_GID="};  // served as root itself (the files belong to root here)

  // A first up without a terminal is applied as written and recorded as approved.
  const auto up = sbx.run({"up", "--detach", "--json", proj.string()}, {}, 240s);
  INFO("up: " << up.out << up.err);
  REQUIRE(up.code == 0);
  CHECK(up.out.find("\"how\":\"first-up\"") != std::string::npos);

  // Inside: the agent (the share's owner) and guest root try to loosen the leash.
  for (const char* user : {"agent", "root"}) {
    const auto r = sbx.run({"exec", "--name", "leash", "--user", user, "--", "sh", "-c", kAttempts}, {}, 120s);
    INFO(user << ": " << r.out << r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("sandboxfile=0") == std::string::npos);
    CHECK(r.out.find("hook=0") == std::string::npos);
    CHECK(r.out.find("config=0") == std::string::npos);
    CHECK(r.out.find("move=0") == std::string::npos);
    CHECK(r.out.find("remove=0") == std::string::npos);
    if (std::string(user) == "agent") {  // the rest of the workspace, .git too, stays writable
      CHECK(r.out.find("free=0") != std::string::npos);
      CHECK(r.out.find("gitdir=0") != std::string::npos);
    }
  }
  CHECK(read_file(proj / "Sandboxfile") == original);
  CHECK_FALSE(fs::exists(proj / ".git" / "hooks" / "pre-commit"));
  CHECK(read_file(proj / ".git" / "config") == "[core]\n\tbare = false\n");
  CHECK_FALSE(fs::exists(proj / ".git-aside"));
  CHECK(read_file(proj / "free.txt") == "ok\n");

  // The Sandboxfile grows anyway (another path): without a terminal and --yes, sbx up refuses,
  // shows the diff, and the running sandbox keeps its rules.
  write_file(proj / "Sandboxfile", sandboxfile("\"api.example.com\", \"*.com\""));
  const auto refused = sbx.run({"up", "--detach", proj.string()}, {}, 240s);
  INFO("refused: " << refused.out << refused.err);
  CHECK(refused.code != 0);
  CHECK(refused.err.find("+ egress allow \"*.com\"") != std::string::npos);
  CHECK(refused.err.find("+ egress allow \"api.example.com\"") != std::string::npos);
  CHECK(refused.err.find("sbx up --yes") != std::string::npos);
  CHECK(read_file(sbx.sandbox_dir("leash") / "Sandboxfile.applied").find("*.com") == std::string::npos);

  // --yes approves: the rules reload (a hot update) and are recorded.
  const auto yes = sbx.run({"up", "--detach", "--yes", proj.string()}, {}, 240s);
  INFO("yes: " << yes.out << yes.err);
  CHECK(yes.code == 0);
  CHECK(yes.err.find("hot-update") != std::string::npos);
  CHECK(read_file(sbx.sandbox_dir("leash") / "Sandboxfile.applied").find("*.com") != std::string::npos);

  // Narrowing needs no approval.
  write_file(proj / "Sandboxfile", sandboxfile("\"api.example.com\""));
  const auto narrow = sbx.run({"up", "--detach", proj.string()}, {}, 240s);
  INFO("narrow: " << narrow.out << narrow.err);
  CHECK(narrow.code == 0);
  CHECK(narrow.err.find("- egress allow \"*.com\"") != std::string::npos);

  // A sandbox renamed by its Sandboxfile is still held to the same approval (keyed by path).
  std::string renamed = sandboxfile("\"api.example.com\", \"*.org\"");
  renamed.replace(renamed.find("\"leash\""), 7, "\"leash2\"");
  write_file(proj / "Sandboxfile", renamed);
  const auto rename = sbx.run({"up", "--detach", proj.string()}, {}, 240s);
  INFO("rename: " << rename.out << rename.err);
  CHECK(rename.code != 0);
  CHECK(rename.err.find("+ egress allow \"*.org\"") != std::string::npos);

  CHECK(sbx.run({"down", "--name", "leash"}, {}, 60s).code == 0);
}
