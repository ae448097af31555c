#include "guest/host/modules_disk.h"

#include <unistd.h>

#include "common/digest.h"
#include "common/paths.h"
#include "common/run_tool.h"

namespace sbx::guest {
namespace fs = std::filesystem;

namespace {
// Bump when the disk's layout changes, so cached disks are rebuilt.
constexpr std::string_view kLayoutVersion = "sbx-modules-disk-1";
}  // namespace

Result<fs::path> build_modules_disk(const Kernel& kernel, const fs::path& cache_dir, const Progress& progress) {
  std::error_code ec;
  if (!fs::is_directory(kernel.modules_dir / "kernel", ec))
    return fail(ErrorCode::not_found, "no module tree at " + (kernel.modules_dir / "kernel").string(), "run ./setup.sh");
  if (kernel.version.empty() || kernel.version.find('/') != std::string::npos || kernel.version.starts_with("."))
    return fail(ErrorCode::invalid, "odd kernel version '" + kernel.version + "'");
  digest::Sha256 h;
  h.update(kLayoutVersion);
  h.update(kernel.version);
  h.update(SBX_TRY(digest::sha256_file(kernel.image)));
  const fs::path disk = cache_dir / "modules" / (kernel.version + "-" + h.hex().substr(0, 24) + ".ext4");
  if (fs::is_regular_file(disk, ec)) {
    if (progress) progress("modules disk: cached " + disk.string());
    return disk;
  }
  auto depmod = SBX_TRY(find_tool("depmod", "kmod"));
  auto mkfs = SBX_TRY(find_tool("mkfs.ext4", "e2fsprogs"));
  auto cp = SBX_TRY(find_tool("cp", "coreutils"));
  if (progress) progress("modules disk: building from " + kernel.modules_dir.string() + " (depmod, mkfs.ext4 -d)");
  SBX_TRY_VOID(paths::ensure_private_dir(cache_dir));
  fs::create_directories(disk.parent_path(), ec);
  const fs::path staging = disk.parent_path() / (".staging-" + std::to_string(::getpid()));
  fs::path tmp = disk;
  tmp += ".tmp." + std::to_string(::getpid());
  fs::remove_all(staging, ec);
  const auto cleanup = [&] {
    fs::remove_all(staging, ec);
    fs::remove(tmp, ec);
  };
  fs::create_directories(staging / "lib" / "modules", ec);
  if (ec) return fail(ErrorCode::io, "cannot create " + staging.string() + ": " + ec.message());
  const fs::path tree = staging / "lib" / "modules" / kernel.version;
  // A copy: depmod -b writes its indexes into the tree, which belongs to setup.sh's kernel.
  auto c = SBX_TRY(run_tool({cp, "-a", "--reflink=auto", kernel.modules_dir.string(), tree.string()}));
  if (c.status != 0) {
    cleanup();
    return fail(ErrorCode::io, "cannot copy " + kernel.modules_dir.string() + ": " + c.output);
  }
  auto d = SBX_TRY(run_tool({depmod, "-b", staging.string(), kernel.version}));
  if (d.status != 0 || !fs::is_regular_file(tree / "modules.dep", ec)) {
    cleanup();
    return fail(ErrorCode::runtime, "depmod -b failed: " + d.output, "install Debian's kmod (./setup.sh does)");
  }
  // Room for the tree (about 90 MiB for Debian's cloud kernel) and ext4's own metadata.
  std::uintmax_t bytes = 0;
  for (auto it = fs::recursive_directory_iterator(tree, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) bytes += (it->file_size(ec) + 4095) / 4096 * 4096;
  const std::uintmax_t mib = bytes / (1 << 20) * 5 / 4 + 32;
  auto m = SBX_TRY(run_tool({mkfs, "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-E", "root_owner=0:0", "-L", "sbx-modules",
                             "-d", tree.string(), tmp.string(), std::to_string(mib) + "M"}));
  if (m.status != 0) {
    cleanup();
    return fail(ErrorCode::runtime, "mkfs.ext4 -d failed: " + m.output, "check e2fsprogs >= 1.43");
  }
  fs::remove_all(staging, ec);
  fs::rename(tmp, disk, ec);
  if (ec) {
    cleanup();
    return fail(ErrorCode::io, "cannot rename " + tmp.string() + ": " + ec.message());
  }
  if (progress) progress("modules disk: wrote " + disk.string());
  return disk;
}

Result<fs::path> build_modules_disk(const Kernel& kernel, const Progress& progress) {
  return build_modules_disk(kernel, paths::cache_dir(), progress);
}

}  // namespace sbx::guest
