// End to end: `sbx save` (issue 14). A sandbox of the built-in image writes a file, deletes a file
// of the image and replaces a directory of it; saved, the image boots a second sandbox (another
// project) that sees exactly those changes. A stopped sandbox, a taken name and a guest whose
// tar plants a whiteout are refused.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sbx_runner.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using sbx::e2e::RunResult;
using sbx::e2e::Sbx;

namespace {

RunResult root_sh(const Sbx& sbx, const std::string& name, const std::string& script) {
  return sbx.run({"exec", "--name", name, "--user", "root", "--", "sh", "-c", script}, {}, 120s);
}

void write_project(const fs::path& dir, const std::string& name, const std::string& image) {
  fs::create_directories(dir);
  std::ofstream(dir / "Sandboxfile") << "version = 1\nname = \"" << name << "\"\n[agent]\npreset = \"shell\"\ncommand = [\"/bin/true\"]\n"
                                     << "[image]\nref = \"" << image << "\"\n"
                                     << "[resources]\nmemory = \"256MiB\"\ndisk = \"64MiB\"\n";
}

}  // namespace

TEST_CASE("sbx save makes a sandbox's changes an image another sandbox boots", "[e2e][save]") {
  Sbx sbx;
  sbx::test::TempDir work("sbx-save-e2e");
  const std::string image = "e2e-save";
  const fs::path a = work.path() / "a", b = work.path() / "b";
  write_project(a, "save-a", "builtin");
  write_project(b, "save-b", "saved:" + image);

  auto up = sbx.run({"up", "--detach", a.string()}, {}, 240s);
  INFO("sbx up a: " << up.err);
  REQUIRE(up.code == 0);
  auto changed = root_sh(sbx, "save-a",
                         "echo kept-by-save > /etc/saved-file && rm /etc/os-release && "
                         "rm -rf /usr/sbin && mkdir /usr/sbin && echo only > /usr/sbin/only && sync");
  INFO("changes: " << changed.out << changed.err);
  REQUIRE(changed.code == 0);

  auto saved = sbx.run({"save", "--json", "--force", "--name", "save-a", image}, {}, 300s);
  INFO("sbx save: " << saved.out << saved.err);
  REQUIRE(saved.code == 0);
  const auto j = json::parse(saved.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j["ok"] == true);
  CHECK(j["reference"] == "saved:" + image);
  CHECK(j["id"].get<std::string>().starts_with("sha256:"));
  CHECK(j["whiteouts"].get<int>() >= 1);
  CHECK(j["opaque_dirs"].get<int>() >= 1);
  CHECK(j["entries"].get<int>() >= 3);

  auto taken = sbx.run({"save", "--name", "save-a", image}, {}, 60s);
  CHECK(taken.code == 1);
  CHECK(taken.err.find("--force") != std::string::npos);
  CHECK(sbx.run({"save", "--name", "save-a", "Bad/Name"}, {}, 30s).code == 2);

  // A hostile guest: root replaces tar with one that plants a whiteout (etc/.wh.passwd would
  // delete /etc/passwd from the image): refused, naming the entry, and no image of that name.
  const fs::path evil = work.path() / "evil";
  fs::create_directories(evil / "etc");
  std::ofstream(evil / "etc" / ".wh.passwd") << "";
  REQUIRE(std::system(("tar -cf '" + (work.path() / "evil.tar").string() + "' -C '" + evil.string() + "' .").c_str()) == 0);
  REQUIRE(sbx.run({"cp", "--name", "save-a", (work.path() / "evil.tar").string(), "sandbox:/tmp/evil.tar"}, {}, 120s).code == 0);
  REQUIRE(root_sh(sbx, "save-a", "rm /bin/tar && printf '#!/bin/sh\\nexec cat /tmp/evil.tar\\n' > /bin/tar && chmod 755 /bin/tar").code == 0);
  auto hostile = sbx.run({"save", "--name", "save-a", "e2e-save-hostile"}, {}, 120s);
  INFO("hostile save: " << hostile.err);
  CHECK(hostile.code == 1);
  CHECK(hostile.err.find("named 'etc/.wh.passwd'") != std::string::npos);
  CHECK(sbx.run({"image", "ls", "--json"}, {}, 60s).out.find("saved:e2e-save-hostile") == std::string::npos);

  REQUIRE(sbx.run({"down", a.string()}, {}, 120s).code == 0);
  auto stopped = sbx.run({"save", "--force", "--name", "save-a", image}, {}, 60s);
  CHECK(stopped.code == 1);
  CHECK(stopped.err.find("sbx up --detach") != std::string::npos);

  auto up_b = sbx.run({"up", "--detach", b.string()}, {}, 240s);
  INFO("sbx up b: " << up_b.err);
  REQUIRE(up_b.code == 0);
  auto seen = root_sh(sbx, "save-b",
                      "cat /etc/saved-file; test -e /etc/os-release && echo os-release-back; ls /usr/sbin; cat /etc/hostname");
  INFO("guest b: " << seen.out << seen.err);
  CHECK(seen.out == "kept-by-save\nonly\nsbx\n");

  auto ls = sbx.run({"image", "ls", "--json"}, {}, 60s);
  CHECK(ls.out.find("saved:" + image) != std::string::npos);
  CHECK(sbx.run({"image", "rm", "saved:" + image}, {}, 60s).code == 1);  // save-b runs on it
  REQUIRE(sbx.run({"down", b.string()}, {}, 120s).code == 0);
  auto rm = sbx.run({"image", "rm", "saved:" + image}, {}, 60s);
  INFO("image rm: " << rm.err);
  CHECK(rm.code == 0);
  CHECK(sbx.run({"rm", "--force", "save-a"}, {}, 90s).code == 0);
  CHECK(sbx.run({"rm", "--force", "save-b"}, {}, 90s).code == 0);
}
