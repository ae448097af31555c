#pragma once
// The sandbox disk: one sparse ext4 file per sandbox (<state dir>/disk.ext4) that holds the upper
// layer of the guest's root overlay, so what the guest writes (installed packages, caches, the
// agent's history) costs host disk, not guest RAM, and survives `sbx down` / `sbx up`.
//
// The disk only makes sense on the lower layer it was written over: disk.json beside it records
// that image, and a changed image means the disk must be reset (the plan says so and asks).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "reconcile/launch_builder.h"
#include "supervisor/state.h"

namespace sbx::reconcile {

/// The block-device serial the guest agent looks for (/sys/block/vd*/serial).
inline constexpr std::string_view kDiskSerial = "sbx-disk";

/// What a sandbox disk was made for (disk.json).
struct DiskRecord {
  std::string lower;              // the lower layer's identity: "sha256:..." or the built-in disk's file name
  std::string image;              // the [image] ref as the Sandboxfile says it, for `sbx ls`
  std::uint64_t size_bytes = 0;   // the ext4 file system's size
  std::int64_t created_unix_ms = 0;
  bool operator==(const DiskRecord&) const = default;
};

/// What `sbx up` does with the sandbox's disk before it boots.
enum class DiskAction { keep, create, reset, grow };

/// The disk part of a plan, with the reason in words.
struct DiskPlan {
  DiskAction action = DiskAction::create;
  std::string reason;
  /// True when the guest's changes on the disk are thrown away.
  bool loses_data() const { return action == DiskAction::reset; }
};

/// "keep", "create", "reset" or "grow".
const char* disk_action_name(DiskAction a);

/// The identity of the lower layer `artifacts` give the guest: the image id, or for the built-in
/// image its root disk's file name (named by its content digest).
std::string disk_lower(const Artifacts& artifacts);

/// Pure decision. `recorded` is disk.json (if any), `disk_exists` whether disk.ext4 is there,
/// `lower` and `size` what the Sandboxfile now asks for, `fresh` whether the user asked to start
/// over (`sbx up --fresh`). A smaller size than the disk has is refused (a disk never shrinks).
Result<DiskPlan> plan_disk(const std::optional<DiskRecord>& recorded, bool disk_exists, std::string_view lower,
                           std::uint64_t size, bool fresh);

/// Host bytes mkfs.ext4 writes for a sparse disk of `size` (metadata only), with a margin.
std::uint64_t mkfs_space_needed(std::uint64_t size);

/// Refuse a disk that mkfs cannot write in `free_bytes` of host space at `dir` (the error says
/// how much is free, how much is needed and how to fix it); warnings for a disk the host could not
/// hold if the guest filled it.
Result<std::vector<std::string>> check_host_space(std::uint64_t free_bytes, std::uint64_t size,
                                                  const std::filesystem::path& dir);

/// disk.json of the sandbox at `paths`, if it is there and readable.
std::optional<DiskRecord> read_disk_record(const supervisor::SandboxPaths& paths);

/// The plan for the sandbox at `paths` now (reads disk.json and checks disk.ext4).
Result<DiskPlan> plan_sandbox_disk(const supervisor::SandboxPaths& paths, std::string_view lower, std::uint64_t size,
                                   bool fresh);

/// Carry out `plan` for the sandbox at `paths` (which must not be running): create or reset the
/// disk (mkfs into a temporary name, then renamed, so a half-made disk is never used), grow its
/// file (the guest grows the file system online at its next mount), or nothing. Returns warnings (host space). On failure nothing
/// half-written is left.
Result<std::vector<std::string>> apply_disk(const DiskPlan& plan, const supervisor::SandboxPaths& paths,
                                            const DiskRecord& desired);

/// Bytes the sparse disk file occupies on the host (its allocated blocks); 0 when there is none.
std::uint64_t disk_used_bytes(const supervisor::SandboxPaths& paths);

}  // namespace sbx::reconcile
