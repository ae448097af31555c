#include "config/mount_check.h"

#include <algorithm>

namespace sbx::config {
namespace fs = std::filesystem;

namespace {

bool path_under(const fs::path& p, const fs::path& root) {
  auto r = root.begin();
  auto i = p.begin();
  for (; r != root.end(); ++r, ++i) {
    if (r->empty()) continue;  // a trailing "/" of root
    if (i == p.end() || *i != *r) return false;
  }
  return true;
}

bool target_under(const std::string& t, const std::string& outer) {
  return t.size() > outer.size() && t.starts_with(outer) && (outer == "/" || t[outer.size()] == '/');
}

}  // namespace

std::vector<Mount> mount_order(const std::vector<Mount>& mounts) {
  std::vector<Mount> out = mounts;
  // Fewer path components first: an outer mount never hides one nested in it.
  std::stable_sort(out.begin(), out.end(), [](const Mount& a, const Mount& b) {
    return std::count(a.target.begin(), a.target.end(), '/') < std::count(b.target.begin(), b.target.end(), '/');
  });
  return out;
}

Result<void> check_mount_sources(const Sandboxfile& file, const std::vector<fs::path>& private_dirs) {
  std::vector<Diagnostic> problems;
  auto add = [&](const Mount& m, std::string message, std::string hint) {
    problems.push_back(Diagnostic{m.location, std::move(message), std::move(hint), {}});
  };
  for (const Mount& m : file.mounts) {
    std::error_code ec;
    const auto st = fs::status(m.source, ec);
    if (st.type() == fs::file_type::not_found) {
      add(m, "mount source " + m.source.string() + " does not exist",
          "create the directory or fix 'source' (relative paths start at the Sandboxfile's directory)");
      continue;
    }
    if (ec) {
      add(m, "cannot inspect mount source " + m.source.string() + ": " + ec.message(), "check its permissions");
      continue;
    }
    if (st.type() != fs::file_type::directory) {
      add(m, "mount source " + m.source.string() + " is not a directory",
          "a mount shares a whole directory (single files are not supported): mount the directory that holds it");
      continue;
    }
    const fs::path real = fs::canonical(m.source, ec);
    if (ec) {
      add(m, "cannot resolve mount source " + m.source.string() + ": " + ec.message(), "check its permissions");
      continue;
    }
    for (const fs::path& dir : private_dirs) {
      const fs::path real_dir = fs::weakly_canonical(dir, ec);
      if (ec || real_dir.empty()) continue;
      if (path_under(real_dir, real) || path_under(real, real_dir)) {
        add(m, "mount source " + m.source.string() + " contains sbx's own files (" + real_dir.string() + ")",
            "the guest would see the secret store and sandbox state: mount a narrower directory");
        break;
      }
    }
  }
  // A nested target's mount point lives in the outer mount's source: it must exist there, or the
  // guest would create it on the host (rw) or fail to (ro).
  for (const Mount& inner : file.mounts) {
    const Mount* outer = nullptr;
    for (const Mount& o : file.mounts)
      if (target_under(inner.target, o.target) && (!outer || o.target.size() > outer->target.size())) outer = &o;
    if (!outer) continue;
    const fs::path point = outer->source / fs::path(inner.target.substr(outer->target.size() + (outer->target == "/" ? 0 : 1)));
    std::error_code ec;
    if (fs::is_directory(outer->source, ec) && !fs::is_directory(point, ec))
      add(inner, "target " + inner.target + " is inside the mount at " + outer->target + " but " + point.string() +
                     " is not a directory",
          "create " + point.string() + " on the host, or choose a target outside " + outer->target);
  }
  if (problems.empty()) return {};
  Error e{ErrorCode::invalid, problems.size() == 1 ? problems[0].message : std::to_string(problems.size()) + " mount problems",
          problems.front().location, problems.front().hint, {}};
  if (problems.size() > 1) e.details = std::move(problems);
  return std::unexpected(e);
}

}  // namespace sbx::config
