#include "guest/agent/local_dirs.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/errno_text.h"
#include "common/fd.h"
#include "guest/agent/console.h"

namespace sbx::guest::agent {
namespace {

constexpr const char* kLocalBase = "/run/rw/local";

// One component beneath `dir`: no symlink followed, no mount crossed, nothing outside `dir`.
Fd open_beneath(int dir, const std::string& name) {
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return Fd(static_cast<int>(::syscall(SYS_openat2, dir, name.c_str(), &how, sizeof how)));
}

// Switches this thread's file system ids (a share maps only the agent user; guest root has no
// identity there) and back on destruction. setfsuid is per thread, unlike setuid.
class FsIdentity {
 public:
  FsIdentity(uid_t uid, gid_t gid) {
    ::syscall(SYS_setfsgid, gid);
    ::syscall(SYS_setfsuid, uid);
  }
  ~FsIdentity() {
    ::syscall(SYS_setfsuid, 0);
    ::syscall(SYS_setfsgid, 0);
  }
  FsIdentity(const FsIdentity&) = delete;
  FsIdentity& operator=(const FsIdentity&) = delete;
};

// Walks `rel` beneath `root`, creating each missing directory (mode 0755) as uid/gid when
// `as_owner`, and returns an O_PATH descriptor of the last one; on failure `why` says what failed.
Fd walk_creating(int root, const std::string& rel, uid_t uid, gid_t gid, bool as_owner, std::string& why) {
  Fd cur(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  for (size_t at = 0; at <= rel.size();) {
    size_t slash = rel.find('/', at);
    if (slash == std::string::npos) slash = rel.size();
    const std::string part = rel.substr(at, slash - at);
    at = slash + 1;
    Fd next = open_beneath(cur.get(), part);
    if (!next && errno == ENOENT) {
      int rc;
      {
        FsIdentity id(as_owner ? uid : 0, as_owner ? gid : 0);
        rc = ::mkdirat(cur.get(), part.c_str(), 0755);
      }
      if (rc != 0 && errno != EEXIST) {
        why = "cannot create '" + part + "': " + errno_text() + (errno == EROFS ? " (create it on the host: the mount is read-only)" : "");
        return Fd();
      }
      if (!as_owner && ::fchownat(cur.get(), part.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
        why = "cannot chown '" + part + "': " + errno_text();
        return Fd();
      }
      next = open_beneath(cur.get(), part);
    }
    if (!next) {
      why = (errno == ELOOP || errno == ENOTDIR)
                ? "'" + part + "' is a symlink or not a directory; refusing to follow it (remove it, then restart the sandbox)"
            : errno == EXDEV ? "'" + part + "' is already a mount point"
                             : "cannot open '" + part + "': " + errno_text();
      return Fd();
    }
    cur = std::move(next);
  }
  return cur;
}

// mkdir -p of the disk's directory for this share (trusted: only guest root writes /run/rw).
bool make_base(const std::string& path) {
  for (size_t at = 1; at <= path.size(); ++at)
    if (at == path.size() || path[at] == '/')
      if (::mkdir(path.substr(0, at).c_str(), 0755) != 0 && errno != EEXIST) return false;
  return true;
}

}  // namespace

std::string local_root_for(const std::string& target) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (unsigned char c : target) h = (h ^ c) * 1099511628211ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::string(kLocalBase) + "/" + hex;
}

std::string mount_local_dirs(const protocol::MountSpec& m) {
  if (m.local.empty()) return {};
  std::string errors;
  auto problem = [&](const std::string& l, const std::string& why) {
    std::string e = "local path " + m.target + "/" + l + ": " + why;
    say(e);
    errors += (errors.empty() ? "" : "; ") + e;
  };
  Fd target(::open(m.target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct stat owner {};
  if (!target || ::fstat(target.get(), &owner) != 0) {
    problem("*", "cannot open the mount's target: " + errno_text());
    return errors;
  }
  const std::string root = local_root_for(m.target);
  if (!make_base(root)) {
    problem("*", "cannot create " + root + " on the sandbox disk: " + errno_text());
    return errors;
  }
  Fd disk(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (const std::string& l : m.local) {
    std::string why;
    Fd from = walk_creating(disk.get(), l, owner.st_uid, owner.st_gid, false, why);
    if (!from) { problem(l, "on the sandbox disk: " + why); continue; }
    Fd onto = walk_creating(target.get(), l, owner.st_uid, owner.st_gid, true, why);
    if (!onto) { problem(l, why); continue; }
    // Detached copy of the disk directory, hardened, then attached over the share's directory by
    // descriptor: nothing between the checks above and the mount can redirect it.
    Fd tree(static_cast<int>(::syscall(SYS_open_tree, from.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)));
    if (!tree) { problem(l, std::string("open_tree: ") + errno_text()); continue; }
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
      problem(l, std::string("mount_setattr: ") + errno_text());
      continue;
    }
    if (::syscall(SYS_move_mount, tree.get(), "", onto.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
      problem(l, std::string("move_mount: ") + errno_text());
      continue;
    }
    say("local path " + m.target + "/" + l + " is on the sandbox disk (" + root + "/" + l + ")");
  }
  return errors;
}

}  // namespace sbx::guest::agent
