#pragma once
// The paths every read-write mount keeps read-only in the guest (SPEC.md "Protected paths"):
// files the user's own tools on the host run or read later. A Sandboxfile's `protect` adds to
// them; a policy's `mounts.protect` requires more.
#include <string>
#include <string_view>
#include <vector>

namespace sbx::config {

/// Relative to each read-write mount's source.
inline constexpr std::string_view kDefaultProtect[] = {"Sandboxfile", ".sbx",   ".git/hooks",
                                                       ".git/config", ".envrc", ".vscode/tasks.json"};

/// Whether `rel` is protected by default or by the file's `protect` list.
inline bool is_protected(std::string_view rel, const std::vector<std::string>& file_protect) {
  for (std::string_view d : kDefaultProtect)
    if (d == rel) return true;
  for (const auto& p : file_protect)
    if (p == rel) return true;
  return false;
}

}  // namespace sbx::config
