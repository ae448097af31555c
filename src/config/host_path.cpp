#include "config/host_path.h"

#include <cstdlib>
#include <pwd.h>
#include <unistd.h>

namespace sbx::config {

namespace fs = std::filesystem;

fs::path home_dir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "/";
}

namespace {
std::string strip_trailing_slash(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}
}  // namespace

Result<fs::path> resolve_host_path(std::string_view written, const fs::path& project_dir) {
  if (written.empty()) return fail(ErrorCode::invalid, "the path is empty", "write a directory, e.g. \".\" for the project directory");
  fs::path p;
  if (written == "~" || written.starts_with("~/")) {
    p = home_dir() / std::string(written.substr(written.size() > 1 ? 2 : 1));
  } else if (written.starts_with("~")) {
    return fail(ErrorCode::invalid, "'~user' paths are not supported",
                "write the absolute path, or '~/...' for your own home directory");
  } else {
    p = fs::path(std::string(written));
    if (p.is_relative()) p = project_dir / p;
  }
  return fs::path(strip_trailing_slash(p.lexically_normal().string()));
}

Result<std::string> normalise_guest_path(std::string_view written) {
  if (written.empty() || written.front() != '/')
    return fail(ErrorCode::invalid, "'" + std::string(written) + "' is not an absolute path inside the VM",
                "paths inside the VM start with '/', e.g. \"/workspace\"");
  const std::string n = strip_trailing_slash(fs::path(std::string(written)).lexically_normal().string());
  return n;
}

}  // namespace sbx::config
