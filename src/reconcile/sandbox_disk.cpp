#include "reconcile/sandbox_disk.h"

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/errno_text.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/run_tool.h"
#include "config/units.h"
#include "reconcile/host_resources.h"
#include "supervisor/launch.h"

namespace sbx::reconcile {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::string_view kTempPrefix = ".disk.ext4.tmp-";

std::string size_text(std::uint64_t bytes) { return config::format_size(bytes); }

Result<std::uint64_t> free_bytes_at(const fs::path& dir) {
  struct statvfs v{};
  if (::statvfs(dir.c_str(), &v) != 0)
    return fail(ErrorCode::io, "cannot read the free space of " + dir.string() + ": " + errno_text());
  return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
}

// Leftovers of an `sbx up` that died while making a disk (the lifecycle lock is held here).
void remove_stale_temps(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().starts_with(kTempPrefix)) fs::remove(e.path(), ec);
}

Result<void> fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) return fail(ErrorCode::io, "cannot sync " + dir.string() + ": " + errno_text());
  return {};
}

Result<void> write_record(const supervisor::SandboxPaths& paths, const DiskRecord& r) {
  const json j = {{"lower", r.lower}, {"image", r.image}, {"size_bytes", r.size_bytes}, {"created_unix_ms", r.created_unix_ms}};
  return write_file_atomic(paths.disk_record(), j.dump(2) + "\n", {.mode = 0600, .sync_dir = true});
}

// An empty sparse file of `size` bytes at a temporary name in the state directory, with an ext4
// file system on it, synced. The temporary file is removed on any failure.
Result<fs::path> make_disk_file(const supervisor::SandboxPaths& paths, std::uint64_t size) {
  auto mkfs = SBX_TRY(find_tool("mkfs.ext4", "e2fsprogs"));
  const fs::path path = paths.dir / (std::string(kTempPrefix) + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove(path, ec);
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return fail(ErrorCode::io, "cannot create the sandbox disk " + path.string() + ": " + errno_text());
  auto discard = [&](Error e) -> Result<fs::path> {
    fs::remove(path, ec);
    return std::unexpected(std::move(e));
  };
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    return discard(make_error(ErrorCode::io, "cannot size the sandbox disk " + path.string() + ": " + errno_text()));
  // The file is all zeros (holes), so the inode tables and journal need no zeroing: lazy init
  // makes mkfs write only metadata, a few MiB for any size.
  auto r = run_tool({mkfs, "-q", "-F", "-t", "ext4", "-b", "4096", "-m", "0", "-L", "sbx-disk", "-E",
                     "lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0", path.string()});
  if (!r) return discard(r.error());
  if (r->status != 0) {
    const bool full = r->output.find("No space left") != std::string::npos;
    return discard(make_error(ErrorCode::io,
                              "mkfs.ext4 could not make the sandbox disk in " + paths.dir.string() + ": " +
                                  r->output.substr(0, 2000),
                              full ? "free space on the host file system of " + paths.dir.string() +
                                         " (or set SBX_STATE_DIR to one with room), then run 'sbx up' again"
                                   : "check that e2fsprogs (mkfs.ext4) works on this host"));
  }
  if (::fsync(fd.get()) != 0)
    return discard(make_error(ErrorCode::io, "cannot sync the sandbox disk " + path.string() + ": " + errno_text(),
                              "free space on the host, then run 'sbx up' again"));
  return path;
}

// Only the file grows: the guest's agent grows the file system to the device online when it
// mounts it (EXT4_IOC_RESIZE_FS), so the host never runs e2fsck or resize2fs on a file system
// the guest wrote (under sudo that would be root parsing a hostile ext4 image).
Result<void> grow_disk(const supervisor::SandboxPaths& paths, std::uint64_t size) {
  const fs::path disk = paths.disk();
  if (::truncate(disk.c_str(), static_cast<off_t>(size)) != 0)
    return fail(ErrorCode::io, "cannot grow " + disk.string() + ": " + errno_text(),
                "free space on the host and run 'sbx up' again, or keep the old [resources] disk size");
  return {};
}

}  // namespace

std::string disk_lower(const Artifacts& a) {
  return a.image_id.empty() ? "builtin:" + a.root_disk.filename().string() : a.image_id;
}

const char* disk_action_name(DiskAction a) {
  switch (a) {
    case DiskAction::keep: return "keep";
    case DiskAction::create: return "create";
    case DiskAction::reset: return "reset";
    case DiskAction::grow: return "grow";
  }
  return "?";
}

Result<DiskPlan> plan_disk(const std::optional<DiskRecord>& recorded, bool disk_exists, std::string_view lower,
                           std::uint64_t size, bool fresh) {
  if (!disk_exists) return DiskPlan{DiskAction::create, "the sandbox has no disk yet"};
  if (fresh) return DiskPlan{DiskAction::reset, "--fresh: start over from the image"};
  // A disk without its record was never finished being made (its record is written first).
  if (!recorded) return DiskPlan{DiskAction::reset, "the disk has no record of its image (disk.json)"};
  if (recorded->lower != lower)
    return DiskPlan{DiskAction::reset, "the image changed (" + recorded->lower.substr(0, 19) + " -> " +
                                           std::string(lower.substr(0, 19)) +
                                           "): the disk holds changes made over the old image"};
  if (size < recorded->size_bytes)
    return fail(ErrorCode::invalid,
                "[resources] disk = \"" + size_text(size) + "\" is smaller than the sandbox's disk (" +
                    size_text(recorded->size_bytes) + "); a sandbox disk never shrinks",
                "keep disk = \"" + size_text(recorded->size_bytes) + "\", or start over with 'sbx up --fresh' (the "
                "disk's contents are lost)");
  if (size > recorded->size_bytes)
    return DiskPlan{DiskAction::grow, "[resources] disk grew from " + size_text(recorded->size_bytes) + " to " + size_text(size)};
  return DiskPlan{DiskAction::keep, "the disk keeps the sandbox's changes"};
}

std::uint64_t mkfs_space_needed(std::uint64_t size) {
  // mkfs.ext4 with lazy init writes about 0.4 MiB for 64 MiB, 1.2 MiB for 2 GiB and 5.2 MiB for
  // 100 GiB (e2fsprogs 1.47): 2 MiB plus 1/16384 of the size covers that with room.
  return 2 * kMiB + size / 16384;
}

Result<std::vector<std::string>> check_host_space(std::uint64_t free_bytes, std::uint64_t size, const fs::path& dir) {
  const std::uint64_t need = mkfs_space_needed(size);
  if (free_bytes < need)
    return fail(ErrorCode::io,
                "the host file system of " + dir.string() + " is full: " + approx_size(free_bytes) +
                    " free, the sandbox disk needs " + approx_size(need) + " to be made",
                "free space there (e.g. 'sbx rm' unused sandboxes, 'sbx image prune'), or set SBX_STATE_DIR to a file "
                "system with room; nothing was written");
  std::vector<std::string> warnings;
  if (free_bytes < size)
    warnings.push_back("the sandbox disk may grow to " + size_text(size) + " but the host has " + approx_size(free_bytes) +
                       " free at " + dir.string() + ": if the guest fills it, its writes fail with I/O errors");
  return warnings;
}

std::optional<DiskRecord> read_disk_record(const supervisor::SandboxPaths& paths) {
  auto text = supervisor::read_small_file(paths.disk_record());
  if (!text) return std::nullopt;
  const json j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("lower") || !j["lower"].is_string()) return std::nullopt;
  DiskRecord r;
  r.lower = j.value("lower", "");
  r.image = j.value("image", "");
  r.size_bytes = j.value("size_bytes", std::uint64_t{0});
  r.created_unix_ms = j.value("created_unix_ms", std::int64_t{0});
  return r;
}

Result<DiskPlan> plan_sandbox_disk(const supervisor::SandboxPaths& paths, std::string_view lower, std::uint64_t size,
                                   bool fresh) {
  std::error_code ec;
  const bool exists = fs::is_regular_file(fs::symlink_status(paths.disk(), ec));
  return plan_disk(read_disk_record(paths), exists, lower, size, fresh);
}

Result<std::vector<std::string>> apply_disk(const DiskPlan& plan, const supervisor::SandboxPaths& paths,
                                            const DiskRecord& desired) {
  auto log = sbx::log::get("reconcile");
  remove_stale_temps(paths.dir);
  if (plan.action == DiskAction::keep) return std::vector<std::string>{};
  const std::uint64_t free = SBX_TRY(free_bytes_at(paths.dir));
  auto warnings = SBX_TRY(check_host_space(free, desired.size_bytes, paths.dir));
  if (plan.action == DiskAction::grow) {
    SBX_TRY_VOID(grow_disk(paths, desired.size_bytes));
    DiskRecord r = read_disk_record(paths).value_or(desired);
    r.size_bytes = desired.size_bytes;
    SBX_TRY_VOID(write_record(paths, r));
    log->info("grew the disk of {} to {}", paths.dir.string(), size_text(desired.size_bytes));
    return warnings;
  }
  const fs::path made = SBX_TRY(make_disk_file(paths, desired.size_bytes));
  // The order keeps disk.json true of disk.ext4 at every step a crash can stop at: the old disk
  // goes first, then the record of the new one, then the new disk takes its name.
  std::error_code ec;
  auto undo = [&](Error e) -> Result<std::vector<std::string>> {
    fs::remove(made, ec);
    return std::unexpected(std::move(e));
  };
  if (fs::remove(paths.disk(), ec); ec)
    return undo(make_error(ErrorCode::io, "cannot remove the old sandbox disk " + paths.disk().string() + ": " + ec.message()));
  DiskRecord r = desired;
  r.created_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  if (auto w = write_record(paths, r); !w) return undo(w.error());
  if (::rename(made.c_str(), paths.disk().c_str()) != 0)
    return undo(make_error(ErrorCode::io, "cannot move the new sandbox disk into place: " + errno_text()));
  SBX_TRY_VOID(fsync_dir(paths.dir));
  log->info("{} the disk of {} ({}): {}", plan.action == DiskAction::reset ? "reset" : "made", paths.dir.string(),
            size_text(desired.size_bytes), plan.reason);
  return warnings;
}

std::uint64_t disk_used_bytes(const supervisor::SandboxPaths& paths) {
  struct stat st{};
  if (::stat(paths.disk().c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

}  // namespace sbx::reconcile
