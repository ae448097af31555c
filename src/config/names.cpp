#include "config/names.h"

#include <algorithm>

namespace sbx::config {

std::string_view to_string(ImageKind kind) {
  switch (kind) {
    case ImageKind::builtin: return "builtin";
    case ImageKind::rootfs_dir: return "rootfs";
    case ImageKind::oci_archive: return "archive";
    case ImageKind::registry: return "registry";
    case ImageKind::dev: return "dev";
    case ImageKind::saved: return "saved";
  }
  return "builtin";
}

std::string_view to_string(HostPatternKind kind) {
  switch (kind) {
    case HostPatternKind::exact: return "exact";
    case HostPatternKind::wildcard: return "wildcard";
    case HostPatternKind::regex: return "regex";
    case HostPatternKind::cidr: return "cidr";
  }
  return "exact";
}

std::string_view to_string(EgressMode mode) { return mode == EgressMode::learn ? "learn" : "enforce"; }

std::string_view to_string(InjectKind kind) { return kind == InjectKind::env ? "env" : "header"; }

std::string_view to_string(MountCache cache) { return cache == MountCache::always ? "always" : "auto"; }

std::optional<MountCache> mount_cache_from_string(std::string_view name) {
  for (MountCache c : {MountCache::auto_, MountCache::always})
    if (to_string(c) == name) return c;
  return std::nullopt;
}

std::string sanitise_name(std::string_view dir_name) {
  std::string out;
  for (char c : dir_name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (ok) out += c;
    else if (!out.empty() && out.back() != '-') out += '-';
    if (out.size() >= 63) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "sandbox" : out;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (name.front() == '-' || name.back() == '-') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

namespace {

// The proxy variables sbx points at its egress proxy inside the VM. Programs read them upper or
// lower case, some (Python's urllib) in any case, so every spelling is sbx's.
constexpr std::string_view kProxyVariables[] = {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"};

}  // namespace

bool is_env_name(std::string_view s) {
  if (s.empty() || s.size() > 128 || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_reserved_env_name(std::string_view s) {
  std::string upper(s);
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return upper.starts_with("SBX_") ||
         std::find(std::begin(kProxyVariables), std::end(kProxyVariables), upper) != std::end(kProxyVariables);
}

bool is_secret_name(std::string_view s) {
  if (s.empty() || s.size() > 128 || s.front() == '.' || s.front() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

}  // namespace sbx::config
