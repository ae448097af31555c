#include "config/mount_rules.h"

#include <string>
#include <vector>

namespace sbx::config {

using namespace std::string_view_literals;

bool guest_path_under(std::string_view path, std::string_view root) {
  return path == root || (path.starts_with(root) && path.size() > root.size() && path[root.size()] == '/');
}

Result<void> check_mount_target(std::string_view target) {
  const std::string t(target);
  for (std::string_view forbidden : {"/proc"sv, "/sys"sv, "/dev"sv}) {
    if (guest_path_under(target, forbidden))
      return fail(ErrorCode::invalid, "cannot mount over '" + t + "'",
                  "/proc, /sys and /dev belong to the guest kernel; pick another target");
  }
  if (target == "/") return fail(ErrorCode::invalid, "cannot mount over '/'", "mount into a directory such as \"/workspace\"");
  // Replacing one of these would hide the guest's own programs, libraries or runtime
  // state; a directory below them (e.g. /usr/local/share/x, /etc/myapp) is fine.
  for (std::string_view system : {"/bin"sv, "/boot"sv, "/etc"sv, "/lib"sv, "/lib32"sv, "/lib64"sv, "/libx32"sv,
                                  "/run"sv, "/sbin"sv, "/usr"sv, "/var"sv}) {
    if (target == system)
      return fail(ErrorCode::invalid, "cannot mount over the guest's system directory '" + t + "'",
                  "mount into a new directory such as \"/workspace\" or below this one, e.g. \"" + t + "/myapp\"");
  }
  return {};
}

Result<void> check_local_path(std::string_view path) {
  const std::string p(path);
  const std::string example = "write it relative to the mount's target, e.g. local = [\"node_modules\"]";
  if (path.empty()) return fail(ErrorCode::invalid, "a 'local' path is empty", example);
  if (path.size() > kMaxLocalPathBytes)
    return fail(ErrorCode::invalid, "a 'local' path is longer than " + std::to_string(kMaxLocalPathBytes) + " bytes",
                "shorten it");
  for (unsigned char c : path)
    if (c < 0x20 || c == 0x7f)
      return fail(ErrorCode::invalid, "the 'local' path '" + p + "' holds a control character", "remove it");
  if (path[0] == '/')
    return fail(ErrorCode::invalid, "the 'local' path '" + p + "' is absolute", example);
  std::vector<std::string_view> parts;
  for (size_t at = 0; at <= path.size();) {
    size_t slash = path.find('/', at);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(at, slash - at);
    if (part == "..")
      return fail(ErrorCode::invalid, "the 'local' path '" + p + "' leaves the mount ('..')",
                  "a local path names a directory inside the mount; remove the '..'");
    if (part.size() > 255)
      return fail(ErrorCode::invalid, "a component of the 'local' path '" + p + "' is longer than 255 bytes", "shorten it");
    if (!part.empty() && part != ".") parts.push_back(part);
    at = slash + 1;
  }
  std::string normal;
  for (auto part : parts) normal += (normal.empty() ? "" : "/") + std::string(part);
  if (normal.empty()) return fail(ErrorCode::invalid, "the 'local' path '" + p + "' names the mount itself", example);
  if (normal != path)
    return fail(ErrorCode::invalid, "the 'local' path '" + p + "' is not normalised", "write \"" + normal + "\"");
  return {};
}

}  // namespace sbx::config
