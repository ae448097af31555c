#include "common/paths.h"

#include <cstdlib>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sbx::paths {
namespace fs = std::filesystem;
namespace {

fs::path from_env(const char* own, const char* xdg, const char* fallback_under_home) {
  if (const char* v = std::getenv(own); v && *v) return v;
  if (const char* v = std::getenv(xdg); v && *v) return fs::path(v) / "sbx";
  return home_dir() / fallback_under_home / "sbx";
}

}  // namespace

fs::path home_dir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "/";
}

fs::path data_dir() { return from_env("SBX_DATA_DIR", "XDG_DATA_HOME", ".local/share"); }
fs::path state_dir() { return from_env("SBX_STATE_DIR", "XDG_STATE_HOME", ".local/state"); }
fs::path cache_dir() { return from_env("SBX_CACHE_DIR", "XDG_CACHE_HOME", ".cache"); }
fs::path config_dir() { return from_env("SBX_CONFIG_DIR", "XDG_CONFIG_HOME", ".config"); }

Result<void> ensure_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return fail(ErrorCode::io, "cannot create directory " + dir.string() + ": " + ec.message(),
                "check that the parent directory is writable by you");
  if (::chmod(dir.c_str(), 0700) != 0)
    return fail(ErrorCode::io, "cannot set mode 0700 on " + dir.string(),
                "make sure you own the directory");
  return {};
}

}  // namespace sbx::paths
