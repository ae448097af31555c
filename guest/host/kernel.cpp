#include "guest/host/kernel.h"

#include <cstdlib>
#include <system_error>
#include <vector>

#include "common/paths.h"

namespace sbx::guest {
namespace fs = std::filesystem;

namespace {
constexpr const char* kFix = "run ./setup.sh (it unpacks Debian's linux-image-cloud-amd64 into /var/lib/sbx/kernel), "
                             "or point $SBX_KERNEL at a directory holding boot/vmlinuz-* and lib/modules/";
}

Result<Kernel> kernel_from_root(const fs::path& root) {
  std::error_code ec;
  fs::path boot = root / "boot";
  if (!fs::is_directory(boot, ec))
    return fail(ErrorCode::not_found, "no guest kernel at " + root.string() + " (missing boot/)", kFix);
  std::vector<fs::path> images;
  for (const auto& e : fs::directory_iterator(boot, ec)) {
    auto name = e.path().filename().string();
    if (name.starts_with("vmlinuz-") && e.is_regular_file(ec)) images.push_back(e.path());
  }
  if (images.empty())
    return fail(ErrorCode::not_found, "no vmlinuz-* in " + boot.string(), kFix);
  if (images.size() > 1)
    return fail(ErrorCode::invalid, "several kernels in " + boot.string() + "; keep one per kernel directory",
                "remove the extra vmlinuz-* files or set $SBX_KERNEL to a directory with one kernel");
  Kernel k;
  k.image = images.front();
  k.version = k.image.filename().string().substr(std::string("vmlinuz-").size());
  k.modules_dir = root / "lib" / "modules" / k.version;
  if (!fs::is_directory(k.modules_dir, ec))
    return fail(ErrorCode::not_found, "kernel " + k.version + " has no module tree at " + k.modules_dir.string(),
                kFix);
  return k;
}

Result<Kernel> locate_kernel(const std::optional<fs::path>& setting) {
  if (setting) return kernel_from_root(*setting);
  if (const char* env = std::getenv("SBX_KERNEL"); env && *env) {
    auto k = kernel_from_root(env);
    if (!k) k.error().message += " ($SBX_KERNEL)";
    return k;
  }
  std::error_code ec;
  for (const fs::path& root : {paths::data_dir() / "kernel" / "current", fs::path("/var/lib/sbx/kernel/current")}) {
    if (fs::exists(root, ec)) return kernel_from_root(root);
  }
  return fail(ErrorCode::not_found,
              "no guest kernel found (looked in " + (paths::data_dir() / "kernel" / "current").string() +
                  " and /var/lib/sbx/kernel/current)",
              kFix);
}

}  // namespace sbx::guest
