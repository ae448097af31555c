// sbx validate / plan / init, run as a user would: the real binary, real files, exit codes.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sbx_run.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace sbx::cli_test;
using sbx::test::TempDir;

namespace {

void write(const fs::path& p, std::string_view text) { std::ofstream(p, std::ios::binary) << text; }

}  // namespace

TEST_CASE("validate accepts examples/hello with exit 0 and says so on stdout", "[cli][validate]") {
  const Run r = run_sbx({"validate", "examples/hello"});
  CHECK(r.rc == 0);
  CHECK(r.out == fs::path(SBX_REPO_DIR).string() + "/examples/hello/Sandboxfile: valid (sandbox 'hello')\n");
  CHECK(r.err.empty());
}

TEST_CASE("validate --json reports every diagnostic of an invalid file and exits 1", "[cli][validate]") {
  const Run r = run_sbx({"validate", "--json", "sandboxfile-spec/examples/invalid/many-errors"});
  CHECK(r.rc == 1);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["ok"] == false);
  REQUIRE(j["error"]["details"].size() == 7);
  CHECK(j["error"]["details"][0]["message"] == "unknown key 'nmae' (did you mean 'name'?)");
  CHECK(j["error"]["details"][0]["location"]["line"] == 3);
  CHECK(j["error"]["details"][0]["location"]["column"] == 1);
}

TEST_CASE("validate --json on a valid file prints ok, name and digest", "[cli][validate]") {
  const Run r = run_sbx({"validate", "--json", "examples/hello/Sandboxfile"});
  CHECK(r.rc == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["ok"] == true);
  CHECK(j["name"] == "hello");
  CHECK(j["digest"].get<std::string>().starts_with("sha256:"));
}

TEST_CASE("validate exits 2 on usage errors and 1 when there is no Sandboxfile", "[cli][validate]") {
  CHECK(run_sbx({"validate", "a", "b"}).rc == 2);
  const Run bad_opt = run_sbx({"validate", "--jsn"});
  CHECK(bad_opt.rc == 2);
  CHECK(bad_opt.err.find("did you mean '--json'?") != std::string::npos);
  TempDir empty;
  const Run missing = run_sbx({"validate"}, empty.path());
  CHECK(missing.rc == 1);
  CHECK(missing.err.find("no Sandboxfile in " + empty.path().string()) != std::string::npos);
  CHECK(missing.err.find("sbx init") != std::string::npos);
}

TEST_CASE("plan prints the resolved state and a digest stable under reordering and comments", "[cli][plan]") {
  TempDir a, b;
  write(a.path() / "Sandboxfile", "version = 1\nname = \"p\"\n[resources]\ncpus = 2\nmemory = \"1GiB\"\n[egress]\nallow = [\"a.com\"]\n");
  write(b.path() / "Sandboxfile", "# same meaning\nname=\"p\"\nversion=1\n\n[egress]\nallow = [ \"A.COM\" ]\n\n[resources]\nmemory=\"1024MiB\"\ncpus=2\n");
  // The project directory is part of the state (mount sources are absolute): compare from one dir.
  fs::copy_file(b.path() / "Sandboxfile", a.path() / "Other", fs::copy_options::overwrite_existing);
  const Run ja = run_sbx({"plan", "--json", (a.path() / "Sandboxfile").string()});
  const Run jb = run_sbx({"plan", "--json", (a.path() / "Other").string()});
  REQUIRE(ja.rc == 0);
  REQUIRE(jb.rc == 0);
  const auto da = nlohmann::json::parse(ja.out), db = nlohmann::json::parse(jb.out);
  CHECK(da["digest"] == db["digest"]);
  CHECK(da["desired"] == db["desired"]);
  CHECK(da["desired"]["resources"]["memory_bytes"] == 1073741824);
  CHECK(da["desired"]["egress"]["allow"][0]["ports"] == nlohmann::json::array({80, 443}));
  const Run human = run_sbx({"plan", (a.path() / "Sandboxfile").string()});
  CHECK(human.rc == 0);
  CHECK(human.out.find("digest     " + da["digest"].get<std::string>() + "\n") != std::string::npos);
  CHECK(human.out.find("  memory   1GiB\n") != std::string::npos);
  CHECK(human.out.find("  allow    a.com  ports 80,443  (exact)\n") != std::string::npos);
}

TEST_CASE("plan on an invalid file prints the same diagnostics as validate", "[cli][plan]") {
  const fs::path dir = fs::path(SBX_REPO_DIR) / "sandboxfile-spec/examples/invalid/unknown-table";
  const Run r = run_sbx({"plan"}, dir);
  CHECK(r.rc == 1);
  CHECK(r.err == slurp(dir / "expected.txt"));
}

TEST_CASE("init writes a starter that validates and refuses to overwrite without --force", "[cli][init]") {
  TempDir t;
  const fs::path dir = t.path() / "My Repo";
  const Run first = run_sbx({"init", dir.string()});
  CHECK(first.rc == 0);
  REQUIRE(fs::exists(dir / "Sandboxfile"));
  const Run valid = run_sbx({"validate", dir.string()});
  CHECK(valid.rc == 0);
  CHECK(valid.out.find("(sandbox 'my-repo')") != std::string::npos);
  write(dir / "Sandboxfile", "# mine\n");
  const Run again = run_sbx({"init", dir.string()});
  CHECK(again.rc == 1);
  CHECK(again.err.find("already exists") != std::string::npos);
  CHECK(again.err.find("--force") != std::string::npos);
  CHECK(slurp(dir / "Sandboxfile") == "# mine\n");
  const Run forced = run_sbx({"init", "--force", "--agent", "claude-code", dir.string()});
  CHECK(forced.rc == 0);
  CHECK(run_sbx({"validate", dir.string()}).rc == 0);
  CHECK(slurp(dir / "Sandboxfile").find("preset = \"claude-code\"") != std::string::npos);
  // No temporary file is left behind.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("init knows the agents and suggests one for a typo", "[cli][init]") {
  TempDir t;
  for (const char* agent : {"shell", "claude-code", "codex"}) {
    const fs::path dir = t.path() / agent;
    CHECK(run_sbx({"init", "--agent", agent, dir.string()}).rc == 0);
    CHECK(run_sbx({"validate", dir.string()}).rc == 0);
  }
  const Run typo = run_sbx({"init", "--agent", "codx", (t.path() / "x").string()});
  CHECK(typo.rc == 2);
  CHECK(typo.err.find("did you mean 'codex'?") != std::string::npos);
  CHECK_FALSE(fs::exists(t.path() / "x" / "Sandboxfile"));
}

TEST_CASE("validate, plan and init each have a manual with an EXIT STATUS section", "[cli][help]") {
  for (const char* cmd : {"validate", "plan", "init"}) {
    const Run r = run_sbx({cmd, "--help"});
    CHECK(r.rc == 0);
    CHECK(r.out.find("EXIT STATUS") != std::string::npos);
  }
}
