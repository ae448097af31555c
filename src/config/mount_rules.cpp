#include "config/mount_rules.h"

#include <string>

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

}  // namespace sbx::config
