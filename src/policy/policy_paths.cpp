#include "policy/policy_paths.h"

#include <array>
#include <optional>
#include <utility>

#include "common/paths.h"

namespace sbx::policy {
namespace fs = std::filesystem;

namespace {

using DirFn = fs::path (*)();
constexpr std::array<std::pair<std::string_view, DirFn>, 4> kSbxDirs = {{
    {"@sbx-state", paths::state_dir},
    {"@sbx-data", paths::data_dir},
    {"@sbx-config", paths::config_dir},
    {"@sbx-cache", paths::cache_dir},
}};

// The directory a leading "~" or "@sbx-*" names, and the rest; nullopt for other forms.
std::optional<std::pair<fs::path, std::string_view>> expand_prefix(std::string_view w) {
  if (w == "~" || w.starts_with("~/")) return std::pair{paths::home_dir(), w.substr(1)};
  for (const auto& [word, dir] : kSbxDirs)
    if (w == word || (w.starts_with(word) && w[word.size()] == '/')) return std::pair{dir(), w.substr(word.size())};
  return std::nullopt;
}

}  // namespace

Result<void> check_policy_path(std::string_view w) {
  if (w.starts_with('/') || expand_prefix(w)) return {};
  if (w.starts_with('~'))
    return fail(ErrorCode::invalid, "'~user' paths are not supported", "write \"~/...\" (the user running sbx) or an absolute path");
  if (w.starts_with('@'))
    return fail(ErrorCode::invalid, "unknown directory '" + std::string(w.substr(0, w.find('/'))) + "'",
                "sbx's own directories are @sbx-state, @sbx-data, @sbx-config and @sbx-cache");
  return fail(ErrorCode::invalid, "a policy path must be absolute",
              "write \"/path\", \"~/path\" or \"@sbx-state\" (a policy has no project directory to be relative to)");
}

fs::path real_path(const fs::path& p) {
  std::error_code ec;
  fs::path out = fs::weakly_canonical(p, ec);
  if (ec) out = p.lexically_normal();
  std::string s = out.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

fs::path resolve_policy_path(std::string_view w) {
  if (auto e = expand_prefix(w)) return real_path(e->first / fs::path(std::string(e->second)).relative_path());
  return real_path(fs::path(std::string(w)));
}

bool path_within(const fs::path& p, const fs::path& root) {
  auto r = root.begin();
  auto i = p.begin();
  for (; r != root.end(); ++r, ++i) {
    if (r->empty()) continue;  // a trailing "/" of root
    if (i == p.end() || *i != *r) return false;
  }
  return true;
}

}  // namespace sbx::policy
