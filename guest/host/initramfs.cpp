#include "guest/host/initramfs.h"

#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/digest.h"
#include "common/paths.h"
#include "guest/host/cpio.h"
#include "guest/host/modules.h"

#ifndef SBX_GUEST_AGENT_BUILD_PATH
#define SBX_GUEST_AGENT_BUILD_PATH ""
#endif

namespace sbx::guest {
namespace fs = std::filesystem;

namespace {
// Bump when the initramfs layout changes, so cached archives are rebuilt.
constexpr std::string_view kLayoutVersion = "sbx-initramfs-2";
}

Result<std::string> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(ErrorCode::io, "cannot read " + file.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail(ErrorCode::io, "error reading " + file.string());
  return ss.str();
}

Result<fs::path> agent_binary() {
  std::error_code ec;
  if (const char* env = std::getenv("SBX_GUEST_AGENT"); env && *env) {
    if (!fs::is_regular_file(env, ec))
      return fail(ErrorCode::not_found, std::string("$SBX_GUEST_AGENT points at ") + env + ", which is not a file",
                  "unset SBX_GUEST_AGENT or build sbx-guest (cmake --build build --target sbx-guest)");
    return fs::path(env);
  }
  std::vector<fs::path> candidates;
  if (*SBX_GUEST_AGENT_BUILD_PATH) candidates.emplace_back(SBX_GUEST_AGENT_BUILD_PATH);
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(self.parent_path() / "sbx-guest");
    candidates.push_back(self.parent_path().parent_path() / "lib" / "sbx" / "sbx-guest");
  }
  for (const auto& c : candidates)
    if (fs::is_regular_file(c, ec)) return c;
  return fail(ErrorCode::not_found, "the guest agent sbx-guest was not found",
              "build it (cmake --build build --target sbx-guest) or set $SBX_GUEST_AGENT to its path");
}

Result<std::string> make_initramfs(const fs::path& agent, const std::vector<fs::path>& modules,
                                   const std::vector<fs::path>& late_modules) {
  CpioWriter w;
  for (const char* d : {"dev", "proc", "sys", "tmp", "run", "newroot", "lib", "lib/modules"}) w.add_dir(d);
  auto init = SBX_TRY(read_file(agent));
  w.add_file("init", init, 0755);
  std::string order;
  for (const auto& m : modules) {
    auto data = SBX_TRY(read_file(m));
    std::string name = m.filename().string();
    w.add_file("lib/modules/" + name, data, 0644);
    order += name + "\n";
  }
  w.add_file(kModuleOrderFile, order, 0644);
  std::string late;
  for (const auto& m : late_modules) {
    auto data = SBX_TRY(read_file(m));
    std::string name = m.filename().string();
    w.add_file("lib/modules/" + name, data, 0644);
    late += name + "\n";
  }
  w.add_file(kLateModuleOrderFile, late, 0644);
  return w.finish();
}

Result<fs::path> build_initramfs(const Kernel& kernel, const fs::path& agent, const fs::path& cache_dir,
                                 const Progress& progress) {
  auto mods = SBX_TRY(resolve_modules(kernel.modules_dir, default_guest_modules()));
  auto late_mods = SBX_TRY(resolve_modules(kernel.modules_dir, late_guest_modules()));
  digest::Sha256 h;
  h.update(kLayoutVersion);
  h.update(kernel.version);
  h.update("\0agent\0");
  h.update(SBX_TRY(digest::sha256_file(agent)));
  std::vector<fs::path> files;
  for (const auto& m : mods) {
    h.update("\0module\0" + m.name + "\0");
    h.update(SBX_TRY(digest::sha256_file(m.path)));
    files.push_back(m.path);
  }
  std::vector<fs::path> late_files;
  for (const auto& m : late_mods) {
    h.update("\0late\0" + m.name + "\0");
    h.update(SBX_TRY(digest::sha256_file(m.path)));
    late_files.push_back(m.path);
  }
  fs::path out = cache_dir / "initramfs" / (h.hex() + ".cpio");
  std::error_code ec;
  if (fs::is_regular_file(out, ec)) {
    if (progress) progress("initramfs: cached " + out.string());
    return out;
  }
  if (progress)
    progress("initramfs: packing sbx-guest and " + std::to_string(files.size()) + " kernel modules (" +
             kernel.version + ")");
  auto bytes = SBX_TRY(make_initramfs(agent, files, late_files));
  SBX_TRY_VOID(paths::ensure_private_dir(cache_dir));
  fs::create_directories(out.parent_path(), ec);
  if (ec) return fail(ErrorCode::io, "cannot create " + out.parent_path().string() + ": " + ec.message());
  SBX_TRY_VOID(write_file_atomic(out, bytes));
  if (progress) progress("initramfs: wrote " + out.string() + " (" + std::to_string(bytes.size() / 1024) + " KiB)");
  return out;
}

Result<fs::path> build_initramfs(const Kernel& kernel, const Progress& progress) {
  auto agent = SBX_TRY(agent_binary());
  return build_initramfs(kernel, agent, paths::cache_dir(), progress);
}

}  // namespace sbx::guest
