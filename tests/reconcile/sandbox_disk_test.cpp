#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sys/stat.h>

#include "common/run_tool.h"
#include "reconcile/sandbox_disk.h"
#include "support/temp_dir.h"

using namespace sbx;
using reconcile::DiskAction;

namespace {

constexpr std::uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30;

reconcile::DiskRecord record(std::string lower, std::uint64_t size) { return {std::move(lower), "builtin:default", size, 1}; }

}  // namespace

TEST_CASE("a sandbox without a disk gets one, whatever else is asked", "[reconcile][disk]") {
  for (bool fresh : {false, true}) {
    auto p = reconcile::plan_disk(std::nullopt, false, "sha256:aa", 2 * kGiB, fresh);
    REQUIRE(p);
    CHECK(p->action == DiskAction::create);
    CHECK_FALSE(p->loses_data());
  }
}

TEST_CASE("the disk is kept across boots of the same image and size", "[reconcile][disk]") {
  auto p = reconcile::plan_disk(record("sha256:aa", 2 * kGiB), true, "sha256:aa", 2 * kGiB, false);
  REQUIRE(p);
  CHECK(p->action == DiskAction::keep);
}

TEST_CASE("a changed image resets the disk and says why", "[reconcile][disk]") {
  auto p = reconcile::plan_disk(record("sha256:aaaa", 2 * kGiB), true, "sha256:bbbb", 2 * kGiB, false);
  REQUIRE(p);
  CHECK(p->action == DiskAction::reset);
  CHECK(p->loses_data());
  CHECK(p->reason.find("image changed") != std::string::npos);
  CHECK(p->reason.find("sha256:aaaa") != std::string::npos);
  CHECK(p->reason.find("sha256:bbbb") != std::string::npos);
}

TEST_CASE("sbx up --fresh resets a disk that would be kept", "[reconcile][disk]") {
  auto p = reconcile::plan_disk(record("sha256:aa", 2 * kGiB), true, "sha256:aa", 2 * kGiB, true);
  REQUIRE(p);
  CHECK(p->action == DiskAction::reset);
  CHECK(p->reason.find("--fresh") != std::string::npos);
}

TEST_CASE("a disk with no record was never finished and is made again", "[reconcile][disk]") {
  auto p = reconcile::plan_disk(std::nullopt, true, "sha256:aa", 2 * kGiB, false);
  REQUIRE(p);
  CHECK(p->action == DiskAction::reset);
}

TEST_CASE("a larger disk size grows the disk, and a smaller one is refused with the fix", "[reconcile][disk]") {
  auto grow = reconcile::plan_disk(record("sha256:aa", 2 * kGiB), true, "sha256:aa", 4 * kGiB, false);
  REQUIRE(grow);
  CHECK(grow->action == DiskAction::grow);
  CHECK_FALSE(grow->loses_data());
  auto shrink = reconcile::plan_disk(record("sha256:aa", 2 * kGiB), true, "sha256:aa", 1 * kGiB, false);
  REQUIRE_FALSE(shrink);
  CHECK(shrink.error().message.find("never shrinks") != std::string::npos);
  CHECK(shrink.error().hint.find("--fresh") != std::string::npos);
  // --fresh starts over, so any size goes.
  auto fresh = reconcile::plan_disk(record("sha256:aa", 2 * kGiB), true, "sha256:aa", 1 * kGiB, true);
  REQUIRE(fresh);
  CHECK(fresh->action == DiskAction::reset);
}

TEST_CASE("a host without room for mkfs is refused with what is free and what is needed", "[reconcile][disk]") {
  const auto need = reconcile::mkfs_space_needed(2 * kGiB);
  CHECK(need >= 2 * kMiB);
  CHECK(need < 8 * kMiB);
  auto full = reconcile::check_host_space(need - 1, 2 * kGiB, "/state");
  REQUIRE_FALSE(full);
  CHECK(full.error().code == ErrorCode::io);
  CHECK(full.error().message.find("/state") != std::string::npos);
  CHECK(full.error().message.find("full") != std::string::npos);
  CHECK(full.error().hint.find("nothing was written") != std::string::npos);
  // Room for mkfs but not for the whole disk: it boots, with a warning.
  auto tight = reconcile::check_host_space(need, 2 * kGiB, "/state");
  REQUIRE(tight);
  CHECK(tight->size() == 1);
  auto roomy = reconcile::check_host_space(4 * kGiB, 2 * kGiB, "/state");
  REQUIRE(roomy);
  CHECK(roomy->empty());
}

TEST_CASE("apply_disk makes a sparse ext4 disk with its record, keeps it, grows it and resets it", "[reconcile][disk]") {
  sbx::test::TempDir tmp("sbx-disk");
  const supervisor::SandboxPaths paths{tmp.path()};
  const reconcile::DiskRecord desired = record("sha256:aa", 64 * kMiB);
  auto made = reconcile::apply_disk({DiskAction::create, "new"}, paths, desired);
  REQUIRE(made);
  struct stat st{};
  REQUIRE(::stat(paths.disk().c_str(), &st) == 0);
  CHECK(st.st_size == static_cast<off_t>(64 * kMiB));
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(reconcile::disk_used_bytes(paths) < 4 * kMiB);  // sparse: only the metadata is written
  auto rec = reconcile::read_disk_record(paths);
  REQUIRE(rec);
  CHECK(rec->lower == "sha256:aa");
  CHECK(rec->size_bytes == 64 * kMiB);
  auto fsck = run_tool({*find_tool("e2fsck", "e2fsprogs"), "-fn", paths.disk().string()});
  REQUIRE(fsck);
  CHECK(fsck->status == 0);
  // Nothing but the disk, its record (and no temporary file) is left.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"disk.ext4", "disk.json"});

  auto keep = reconcile::plan_sandbox_disk(paths, "sha256:aa", 64 * kMiB, false);
  REQUIRE(keep);
  CHECK(keep->action == DiskAction::keep);

  auto grow = reconcile::plan_sandbox_disk(paths, "sha256:aa", 96 * kMiB, false);
  REQUIRE(grow);
  REQUIRE(grow->action == DiskAction::grow);
  const auto blocks_of = [&] {
    auto d = run_tool({*find_tool("dumpe2fs", "e2fsprogs"), "-h", paths.disk().string()});
    const auto at = d ? d->output.find("Block count:") : std::string::npos;
    return at == std::string::npos ? std::string() : d->output.substr(at, d->output.find('\n', at) - at);
  };
  const std::string blocks_before = blocks_of();
  REQUIRE_FALSE(blocks_before.empty());
  REQUIRE(reconcile::apply_disk(*grow, paths, record("sha256:aa", 96 * kMiB)));
  CHECK(std::filesystem::file_size(paths.disk()) == 96 * kMiB);
  CHECK(reconcile::read_disk_record(paths)->size_bytes == 96 * kMiB);
  // Only the file grew: the host never resizes (or checks) a file system the guest wrote; the
  // guest grows it online at its next mount (tests/e2e/disk_e2e_test.cpp).
  CHECK(blocks_of() == blocks_before);
  auto fsck2 = run_tool({*find_tool("e2fsck", "e2fsprogs"), "-fn", paths.disk().string()});
  CHECK(fsck2->status == 0);

  auto reset = reconcile::plan_sandbox_disk(paths, "sha256:bb", 96 * kMiB, false);
  REQUIRE(reset);
  REQUIRE(reset->action == DiskAction::reset);
  struct stat before{};
  ::stat(paths.disk().c_str(), &before);
  REQUIRE(reconcile::apply_disk(*reset, paths, record("sha256:bb", 96 * kMiB)));
  struct stat after{};
  ::stat(paths.disk().c_str(), &after);
  CHECK(after.st_ino != before.st_ino);  // a new file system, not the old one
  CHECK(reconcile::read_disk_record(paths)->lower == "sha256:bb");
}

TEST_CASE("a stale temporary disk from a killed sbx up is removed, never used", "[reconcile][disk]") {
  sbx::test::TempDir tmp("sbx-disk");
  const supervisor::SandboxPaths paths{tmp.path()};
  { std::ofstream(tmp.path() / ".disk.ext4.tmp-99999") << "half"; }
  REQUIRE(reconcile::apply_disk({DiskAction::create, "new"}, paths, record("sha256:aa", 64 * kMiB)));
  CHECK_FALSE(std::filesystem::exists(tmp.path() / ".disk.ext4.tmp-99999"));
}
