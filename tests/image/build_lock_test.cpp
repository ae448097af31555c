// One builder per cached artifact: the second sbx waits for the first one's lock, says so once,
// and gives up after its timeout with the lock file named.
#include <catch2/catch.hpp>

#include <optional>
#include <thread>

#include "image/build_lock.h"
#include "support/temp_dir.h"

using namespace sbx::image;
using sbx::test::TempDir;

TEST_CASE("build lock names are plain file names whatever the key holds", "[image][lock]") {
  CHECK(build_lock_name("dev-0123abcd") == ".dev-0123abcd.lock");
  CHECK(build_lock_name("agent:@openai/codex@latest") == ".agent__openai_codex_latest.lock");
  CHECK(build_lock_name("../../etc/passwd").find('/') == std::string::npos);
  CHECK(build_lock_name(".hidden") == "._hidden.lock");
  CHECK(build_lock_name(std::string(500, 'a')).size() == 1 + 96 + 5);
}

TEST_CASE("a second build of the same artifact waits for the first, and times out naming the lock", "[image][lock]") {
  TempDir dir;
  std::vector<std::string> said;
  const auto say = [&](std::string_view l) { said.emplace_back(l); };
  {
    auto first = BuildLock::acquire(dir.path(), "dev-x", "the dev image", std::chrono::seconds(1), say);
    REQUIRE(first);
    CHECK_FALSE(first->waited());
    auto second = BuildLock::acquire(dir.path(), "dev-x", "the dev image", std::chrono::seconds(0), say);
    REQUIRE_FALSE(second);
    CHECK(second.error().message.find("another sbx process has been building the dev image") != std::string::npos);
    CHECK(second.error().message.find(".dev-x.lock") != std::string::npos);
    // Another key is another artifact: no waiting.
    CHECK(BuildLock::acquire(dir.path(), "dev-y", "the dev image", std::chrono::seconds(0), say));
  }
  CHECK(said.empty());  // a zero timeout gives up without waiting
  // Released with the first holder: the next one gets it at once.
  auto again = BuildLock::acquire(dir.path(), "dev-x", "the dev image", std::chrono::seconds(0), say);
  REQUIRE(again);
  CHECK_FALSE(again->waited());
}

TEST_CASE("the waiter gets the lock as soon as the holder lets go", "[image][lock]") {
  TempDir dir;
  std::vector<std::string> said;
  std::optional<BuildLock> held;
  {
    auto l = BuildLock::acquire(dir.path(), "agent-1", "the agent layer", std::chrono::seconds(1), {});
    REQUIRE(l);
    held.emplace(std::move(*l));
  }
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    held.reset();
  });
  auto waiter = BuildLock::acquire(dir.path(), "agent-1", "the agent layer", std::chrono::seconds(20),
                                   [&](std::string_view l) { said.emplace_back(l); });
  release.join();
  REQUIRE(waiter);
  CHECK(waiter->waited());
  REQUIRE(said.size() == 1);  // said once, not once per retry
  CHECK(said[0] == "waiting for another sbx process to finish building the agent layer...");
}
