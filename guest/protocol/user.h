#pragma once
// The one rule for the user a process runs as inside the VM, shared by the host (Sandboxfile
// [agent] user, an image's User) and the guest agent (CONFIG and OPEN). Header-only and
// dependency-free: the guest agent is a static binary that links nothing of the host.
#include <string_view>

namespace sbx::guest::protocol {

/// Whether `part` is a user or group name ([a-z_][a-z0-9_.-]{0,31}) or a numeric id (1-10 digits).
constexpr bool valid_user_part(std::string_view part) {
  if (part.empty() || part.size() > 32) return false;
  bool digits = true;
  for (char c : part) digits = digits && c >= '0' && c <= '9';
  if (digits) return part.size() <= 10;
  if (!((part[0] >= 'a' && part[0] <= 'z') || part[0] == '_')) return false;
  for (char c : part)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

/// Whether `user` is "name", "uid", "name:group" or "uid:gid", each part a valid_user_part.
constexpr bool valid_user_spec(std::string_view user) {
  const auto colon = user.find(':');
  if (colon == std::string_view::npos) return valid_user_part(user);
  return valid_user_part(user.substr(0, colon)) && valid_user_part(user.substr(colon + 1));
}

}  // namespace sbx::guest::protocol
