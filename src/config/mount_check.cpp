#include "config/mount_check.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace sbx::config {
namespace fs = std::filesystem;

namespace {

// Enough for any sane chain of links (the kernel's own limit is 40).
constexpr int kMaxLinks = 40;

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

// A directory the sandbox may write in: a symlink inside it may be the sandbox's.
struct Guarded {
  fs::path dir;      // absolute, symlink-free
  std::string what;  // "the project directory" / "the read-write mount source"
};

std::vector<Guarded> guarded_dirs(const Sandboxfile& file) {
  std::vector<Guarded> out;
  std::error_code ec;
  if (!file.project_dir.empty())
    if (fs::path p = fs::canonical(file.project_dir, ec); !ec) out.push_back({p, "the project directory"});
  for (const Mount& m : file.mounts) {
    if (!m.writable) continue;
    if (fs::path p = fs::canonical(m.source, ec); !ec) out.push_back({p, "the read-write mount source"});
  }
  return out;
}

std::string readlink_of(const fs::path& p) {
  std::string buf(4096, '\0');
  const ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size());
  if (n <= 0 || static_cast<size_t>(n) >= buf.size()) return {};
  buf.resize(static_cast<size_t>(n));
  return buf;
}

// Push `p`'s components so the first one is walked next.
void push_components(std::vector<std::string>& todo, const fs::path& p) {
  std::vector<std::string> parts;
  for (const auto& c : p)
    if (const std::string s = c.string(); !s.empty() && s != "/") parts.push_back(s);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_back(*it);
}

// The walk itself: like realpath(3), but each symlink is looked at before it is followed.
Result<fs::path> walk(const fs::path& source, const std::vector<Guarded>& guarded) {
  std::vector<std::string> todo;  // back() is the next component
  push_components(todo, source);
  fs::path cur = "/";
  int links = 0;
  while (!todo.empty()) {
    const std::string c = todo.back();
    todo.pop_back();
    if (c == ".") continue;
    if (c == "..") {  // cur has no symlinks, so its parent is the physical one
      cur = cur.parent_path();
      continue;
    }
    const fs::path next = cur / c;
    struct stat st{};
    if (::lstat(next.c_str(), &st) != 0) {
      if (errno == ENOENT)
        return fail(ErrorCode::not_found, "mount source " + source.string() + " does not exist",
                    "create the directory or fix 'source' (relative paths start at the Sandboxfile's directory)");
      return fail(ErrorCode::io, "cannot inspect mount source " + source.string() + ": " + next.string() + ": " +
                                     std::strerror(errno),
                  "check its permissions");
    }
    if (!S_ISLNK(st.st_mode)) {
      cur = next;
      continue;
    }
    const std::string target = readlink_of(next);
    for (const Guarded& g : guarded)
      if (next != g.dir && path_under(next, g.dir))
        return fail(ErrorCode::permission,
                    "mount source " + source.string() + " goes through the symlink " + next.string() + " -> " + target +
                        ", which is inside " + g.what + " " + g.dir.string() + ", where the sandbox could have made it",
                    "sbx follows no symlink a sandbox could have planted: remove the link, or if it is yours, write "
                    "the directory it points to as the mount's source");
    if (target.empty() || ++links > kMaxLinks)
      return fail(ErrorCode::invalid, "cannot resolve mount source " + source.string() + ": " + next.string() +
                                          (target.empty() ? " is an unreadable symlink" : ": too many levels of symlinks"),
                  "fix the symlink or write the real directory as the source");
    if (target.front() == '/') cur = "/";
    push_components(todo, target);
  }
  return cur;
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

Result<fs::path> resolve_mount_source(const Sandboxfile& file, const Mount& mount) {
  return walk(mount.source, guarded_dirs(file));
}

Result<void> check_mount_sources(Sandboxfile& file, const std::vector<fs::path>& private_dirs) {
  std::vector<Diagnostic> problems;
  auto add = [&](const Mount& m, std::string message, std::string hint) {
    problems.push_back(Diagnostic{m.location, std::move(message), std::move(hint), {}});
  };
  const std::vector<Guarded> guarded = guarded_dirs(file);
  std::vector<fs::path> resolved(file.mounts.size());
  for (size_t i = 0; i < file.mounts.size(); ++i) {
    const Mount& m = file.mounts[i];
    auto real = walk(m.source, guarded);
    if (!real) {
      add(m, real.error().message, real.error().hint);
      continue;
    }
    struct stat st{};
    if (::stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      add(m, "mount source " + m.source.string() + " is not a directory",
          "a mount shares a whole directory (single files are not supported): mount the directory that holds it");
      continue;
    }
    resolved[i] = *real;
    for (const fs::path& dir : private_dirs) {
      std::error_code ec;
      const fs::path real_dir = fs::weakly_canonical(dir, ec);
      if (ec || real_dir.empty()) continue;
      if (path_under(real_dir, *real) || path_under(*real, real_dir)) {
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
    size_t outer_index = 0;
    for (size_t i = 0; i < file.mounts.size(); ++i) {
      const Mount& o = file.mounts[i];
      if (target_under(inner.target, o.target) && (!outer || o.target.size() > outer->target.size())) {
        outer = &o;
        outer_index = i;
      }
    }
    if (!outer || resolved[outer_index].empty()) continue;
    const fs::path rel = inner.target.substr(outer->target.size() + (outer->target == "/" ? 0 : 1));
    const fs::path point = resolved[outer_index] / rel;
    std::error_code ec;
    if (!fs::is_directory(point, ec))
      add(inner, "target " + inner.target + " is inside the mount at " + outer->target + " but " +
                     (outer->source / rel).string() + " is not a directory",
          "create " + (outer->source / rel).string() + " on the host, or choose a target outside " + outer->target);
  }
  if (problems.empty()) {
    for (size_t i = 0; i < file.mounts.size(); ++i) file.mounts[i].source = resolved[i];
    return {};
  }
  Error e{ErrorCode::invalid, problems.size() == 1 ? problems[0].message : std::to_string(problems.size()) + " mount problems",
          problems.front().location, problems.front().hint, {}};
  if (problems.size() > 1) e.details = std::move(problems);
  return std::unexpected(e);
}

}  // namespace sbx::config
