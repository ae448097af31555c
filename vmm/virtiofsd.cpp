#include "vmm/virtiofsd.h"
#include "vmm/nofile_limit.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/limits.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/text.h"
#include "vmm/share_seccomp.h"
#include "vmm/unix_socket.h"

namespace sbx::vmm {
namespace fs = std::filesystem;

fs::path virtiofsd_binary() {
  if (const char* v = std::getenv("SBX_VIRTIOFSD"); v && *v) return v;
  for (const char* p : {"/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "/usr/bin/virtiofsd"})
    if (::access(p, X_OK) == 0) return p;
  return "/usr/lib/qemu/virtiofsd";
}

namespace {

// Where a share's path is rebuilt in virtiofsd's private mount namespace (a tmpfs there).
constexpr const char* kServedRoot = "/tmp";

bool parse_id(const char* s, unsigned& out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (errno || *end || v >= 0xffffffffUL) return false;
  out = static_cast<unsigned>(v);
  return true;
}

// Async-signal-safe: write a whole small file (the /proc/self maps).
bool write_file(const char* path, const char* text, size_t len) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text, len) == static_cast<ssize_t>(len);
  ::close(fd);
  return ok;
}

// Mount flags a remount inside a user namespace must keep (the kernel locks them).
// Async-signal-safe: fstatvfs is one system call.
unsigned long locked_flags(int fd) {
  struct statvfs st{};
  if (::fstatvfs(fd, &st) != 0) return 0;
  unsigned long f = 0;
  if (st.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) f |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

// Capabilities virtiofsd must not have: CAP_FSETID would keep set-id bits across a guest's write
// or truncate and let a file be given a group the user is not in with S_ISGID kept; CAP_SETFCAP
// would let it write file capabilities (security.capability).
bool withheld_cap(int cap) { return cap == CAP_FSETID || cap == CAP_SETFCAP; }

// "/proc/self/fd/N" without allocating (the hook runs between fork and exec).
void fd_path(char (&out)[32], int fd) {
  const char prefix[] = "/proc/self/fd/";
  char digits[12];
  int n = 0;
  do digits[n++] = static_cast<char>('0' + fd % 10);
  while ((fd /= 10) > 0 && n < 11);
  size_t i = 0;
  for (; prefix[i]; ++i) out[i] = prefix[i];
  while (n > 0) out[i++] = digits[--n];
  out[i] = 0;
}

// Everything the child needs, prepared before fork so the hook allocates nothing.
struct Plan {
  HostUser user;
  bool drop_to_user = false;  // running as root for another (sudo) user
  std::string uid_map, gid_map;
  std::string source;  // absolute and symlink-free, as sbx up checked it
  std::string served;  // kServedRoot + source: the path virtiofsd is given
  bool read_only = false;
  std::vector<std::string> protect;  // valid_protect_path, checked before fork
  const std::vector<sock_filter>* seccomp = nullptr;
};

// Keep `rel` (below the served tree) read-only. Each directory on the way is pinned with a bind
// mount of itself: a mount point cannot be renamed or removed, so the guest cannot move `.git`
// aside and make a new one. The path itself becomes a read-only bind mount. Every step is opened
// without following a symlink and mounted through its descriptor, so a link the guest planted
// cannot redirect a mount. A path that does not exist (or is a symlink, or no file or directory)
// is left alone. Async-signal-safe.
ChildStep protect_path(const char* served, const std::string& rel) {
  int cur = ::open(served, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (cur < 0) return {"opening the share to protect its paths", errno};
  char name[NAME_MAX + 1];
  size_t i = 0;
  for (;;) {
    size_t n = 0;
    while (i < rel.size() && rel[i] != '/') name[n++] = rel[i++];  // each part <= NAME_MAX, checked before fork
    name[n] = 0;
    const bool last = i >= rel.size();
    const int next = ::openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st{};
    if (next < 0 || ::fstat(next, &st) != 0 || !(S_ISDIR(st.st_mode) || (last && S_ISREG(st.st_mode)))) {
      if (next >= 0) ::close(next);
      ::close(cur);
      return {};
    }
    char fdp[32];
    fd_path(fdp, next);
    // MS_REC: pinning a directory again (.git for .git/config after .git/hooks) keeps the
    // protect mounts already below it.
    if (::mount(fdp, fdp, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      const int err = errno;
      ::close(next);
      ::close(cur);
      return {"protecting a path of the share", err};
    }
    ::close(next);
    // Looked up again by name: the lookup enters the new mount, whose root a remount needs.
    const int top = ::openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    ::close(cur);
    if (top < 0) return {"protecting a path of the share", errno};
    cur = top;
    if (last) {
      fd_path(fdp, cur);
      const int rc = ::mount(nullptr, fdp, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(cur), nullptr);
      const int err = errno;
      ::close(cur);
      if (rc != 0) return {"making a protected path read-only", err};
      return {};
    }
    ++i;
  }
}

ChildStep enter_sandbox(const Plan& p) {
  // virtiofsd keeps one O_PATH descriptor per inode the guest knows: give it the hard limit
  // (nofile_limit.h), the number its command line names too.
  const rlimit nofile = virtiofsd_nofile();
  ::setrlimit(RLIMIT_NOFILE, &nofile);
  if (p.drop_to_user) {
    const gid_t g = p.user.gid;
    // No supplementary groups: virtiofsd drops them itself at start (CVE-2022-0358) and would
    // fail to inside the user namespace.
    if (::setgroups(0, nullptr) != 0) return {"setgroups", errno};
    if (::setresgid(g, g, g) != 0) return {"setresgid", errno};
    if (::setresuid(p.user.uid, p.user.uid, p.user.uid) != 0) return {"setresuid", errno};
    // A uid change makes the process undumpable, which gives /proc/self to root: take it back so
    // the maps below can be written.
    ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  }
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return {"creating a user namespace", errno};
  if (!write_file("/proc/self/setgroups", "deny", 4)) return {"writing /proc/self/setgroups", errno};
  if (!write_file("/proc/self/uid_map", p.uid_map.data(), p.uid_map.size())) return {"writing /proc/self/uid_map", errno};
  if (!write_file("/proc/self/gid_map", p.gid_map.data(), p.gid_map.size())) return {"writing /proc/self/gid_map", errno};
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return {"making mounts private", errno};
  // Open the share once, following no symlink: sbx up checked this symlink-free path, so a link
  // that appeared on it since (a directory swapped by a guest) fails here instead of being served.
  // The identity is the one virtiofsd will have (the user, nothing more). Opened in this mount
  // namespace so that it can be bind-mounted below.
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const int dir = static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, p.source.c_str(), &how, sizeof how));
  if (dir < 0) {
    if (errno == ELOOP) return {"opening the shared directory: its path now passes through a symlink", ELOOP};
    return {"opening the shared directory as the invoking user", errno};
  }
  // virtiofsd takes a path, so give it one that leads to exactly that directory: a private tmpfs
  // over /tmp (in this namespace only) holding a copy of the path, with the opened directory
  // bind-mounted at its end. Nothing outside this namespace can change that path.
  if (::mount("sbx", kServedRoot, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k") != 0)
    return {"mounting a private tmpfs for the share's path", errno};
  char path[PATH_MAX];
  const size_t len = p.served.size();  // < PATH_MAX, checked before fork
  for (size_t i = 0; i <= len; ++i) {
    path[i] = i < len ? p.served[i] : 0;
    if ((i == len || path[i] == '/') && i > std::strlen(kServedRoot)) {
      path[i] = 0;
      if (::mkdir(path, 0755) != 0 && errno != EEXIST) return {"making the share's path", errno};
      if (i < len) path[i] = '/';
    }
  }
  char source_fd[32];
  fd_path(source_fd, dir);
  if (::mount(source_fd, p.served.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return {"bind-mounting the share", errno};
  if (p.read_only) {
    if (::mount(nullptr, p.served.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(dir), nullptr) != 0)
      return {"making the share read-only", errno};
  } else {
    for (const auto& rel : p.protect)
      if (ChildStep step = protect_path(p.served.c_str(), rel); step.what) return step;
  }
  ::close(dir);
  // The namespace gave us every capability in it; keep them across exec (as ambient capabilities)
  // although our uid there is not 0. virtiofsd then drops all but the few it needs. Two are
  // withheld (see withheld_cap; virtiofsd is told with -o modcaps).
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) return {"capget", errno};
  for (int cap = 0; cap <= 63; ++cap)
    if (withheld_cap(cap)) {
      data[cap / 32].permitted &= ~(1u << (cap % 32));
      data[cap / 32].effective &= ~(1u << (cap % 32));
    }
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (::syscall(SYS_capset, &hdr, data) != 0) return {"capset", errno};
  for (int cap = 0; cap <= 63; ++cap) {
    const bool held = cap < 32 ? (data[0].permitted >> cap) & 1 : (data[1].permitted >> (cap - 32)) & 1;
    if (held && ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0 && errno != EINVAL)
      return {"raising ambient capabilities", errno};
  }
  // Last: from here on no file virtiofsd serves can be given a set-id bit or an xattr.
  if (const int err = install_seccomp_program(*p.seccomp); err != 0) return {"installing the seccomp filter", err};
  return {};
}

std::string user_name(uid_t uid) {
  if (const passwd* pw = ::getpwuid(uid); pw && pw->pw_name) return std::string(pw->pw_name) + " (uid " + std::to_string(uid) + ")";
  return "uid " + std::to_string(uid);
}

}  // namespace

HostUser invoking_user() {
  HostUser u{::getuid(), ::getgid()};
  unsigned uid = 0, gid = 0;
  if (u.uid == 0 && parse_id(std::getenv("SUDO_UID"), uid) && parse_id(std::getenv("SUDO_GID"), gid)) {
    u.uid = uid;
    u.gid = gid;
  }
  return u;
}

const char* share_cache_name(ShareCache cache) { return cache == ShareCache::always ? "always" : "auto"; }

bool valid_protect_path(std::string_view rel) {
  if (rel.empty() || rel.size() > 1024) return false;
  for (std::string_view part : text::split(rel, '/'))
    if (part.empty() || part == "." || part == ".." || part.size() > NAME_MAX) return false;
  return true;
}

std::string served_path(const fs::path& source) { return std::string(kServedRoot) + "/sbx-share" + source.string(); }

std::vector<std::string> virtiofsd_argv(const Share& share) {
  std::vector<std::string> argv = {virtiofsd_binary().string(), "--fd=3", "-o", "source=" + served_path(share.source),
                                   // Withheld by sbx (see enter_sandbox): virtiofsd must not ask for them.
                                   "-o", "modcaps=-fsetid:-setfcap",
                                   "-o", std::string("cache=") + share_cache_name(share.cache), "-o", "log_level=warn",
                                   // The hook raised the soft limit to this (the hard limit); in a user
                                   // namespace virtiofsd may not raise the hard limit itself.
                                   "--rlimit-nofile=" + std::to_string(virtiofsd_nofile().rlim_cur)};
  // Extra options for experiments and benchmarks (e.g. "-o cache=always --thread-pool-size=4").
  if (const char* extra = std::getenv("SBX_VIRTIOFSD_ARGS"))
    for (std::string& word : text::split(extra, ' '))
      if (!word.empty()) argv.push_back(std::move(word));
  return argv;
}

Result<Child> start_virtiofsd(const Share& share, const HostUser& user, const fs::path& log) {
  std::error_code ec;
  if (!fs::is_directory(share.source, ec))
    return fail(ErrorCode::not_found, "shared directory " + share.source.string() + " does not exist",
                "create it or fix the mount's source");
  const fs::path bin = virtiofsd_binary();
  if (::access(bin.c_str(), X_OK) != 0)
    return fail(ErrorCode::not_found, "virtiofsd not found at " + bin.string(),
                "install qemu-system-x86 (Debian ships /usr/lib/qemu/virtiofsd) or set SBX_VIRTIOFSD");
  // Debian's virtiofsd (QEMU 7.2) drops supplementary groups at start (the CVE-2022-0358 fix) and
  // exits when it cannot; an unprivileged user cannot drop them, not even in a user namespace
  // (setgroups stays denied there so groups used as negative permissions keep working).
  if (::geteuid() != 0 && ::getgroups(0, nullptr) > 0)
    return fail(ErrorCode::permission,
                "cannot serve mount " + share.source.string() + " as " + user_name(user.uid) +
                    ": virtiofsd drops all supplementary groups when it starts, which a user who belongs to groups "
                    "cannot do without privilege; run sbx through sudo (the files still belong to you)",
                "run sbx through sudo (the shared files still belong to you: sbx serves them as $SUDO_UID), from a "
                "session without supplementary groups, or without [[mount]]");
  if (!share.source.is_absolute() || share.source.lexically_normal() != share.source ||
      served_path(share.source).size() >= PATH_MAX)
    return fail(ErrorCode::invalid, "shared directory " + share.source.string() + " is not an absolute, normalised path",
                "run 'sbx up' again to rewrite the launch");
  static const Result<std::vector<sock_filter>> seccomp = share_seccomp_program();
  if (!seccomp) return std::unexpected(seccomp.error());
  // sbx owns the listening socket and hands it over (--fd): virtiofsd then writes no pid file under
  // /run (which an unprivileged user cannot), and QEMU can connect as soon as we return.
  auto listener = SBX_TRY(listen_unix(share.socket));
  Plan plan;
  plan.user = user;
  plan.drop_to_user = ::geteuid() == 0 && user.uid != 0;
  plan.uid_map = std::to_string(share.guest_uid) + " " + std::to_string(user.uid) + " 1\n";
  plan.gid_map = std::to_string(share.guest_gid) + " " + std::to_string(user.gid) + " 1\n";
  plan.source = share.source.string();
  plan.served = served_path(share.source);
  plan.read_only = share.read_only;
  for (const auto& rel : share.protect) {
    if (!valid_protect_path(rel))
      return fail(ErrorCode::invalid, "share " + share.source.string() + ": protected path '" + rel + "' is not a relative path below it",
                  "run 'sbx up' again to rewrite the launch");
    plan.protect.push_back(rel);
  }
  plan.seccomp = &*seccomp;
  SpawnOptions o;
  o.output_log = log;
  o.pass_fds = {listener.get()};
  o.pre_exec = [&plan] { return enter_sandbox(plan); };
  o.missing_hint = "install qemu-system-x86 (Debian ships /usr/lib/qemu/virtiofsd) or set SBX_VIRTIOFSD";
  auto child = spawn_child(virtiofsd_argv(share), o);
  if (!child) {
    fs::remove(share.socket, ec);
    Error e = child.error();
    e.message = "virtiofsd for " + share.source.string() + ": " + e.message;
    if (e.message.find("user namespace") != std::string::npos || e.message.find("_map") != std::string::npos)
      e.hint = "sbx serves mounts from an unprivileged user namespace: enable them (sysctl user.max_user_namespaces > 0, "
               "kernel.unprivileged_userns_clone=1, kernel.apparmor_restrict_unprivileged_userns=0) or run sbx through sudo";
    else if (e.message.find("passes through a symlink") != std::string::npos)
      e.hint = "a directory on the way to " + share.source.string() + " was replaced by a symlink after sbx checked it: "
               "run 'sbx up' again, which refuses a symlink the sandbox could have made";
    else if (e.message.find("as the invoking user") != std::string::npos)
      e.hint = "mounts are served as " + user_name(user.uid) + ", who cannot open " + share.source.string() +
               ": give that user access or mount another directory";
    return std::unexpected(e);
  }
  sbx::log::get("vmm")->debug("virtiofsd pid {} serves {} as {} ({})", child->pid, share.source.string(),
                              user_name(user.uid), share.read_only ? "read-only" : "read-write");
  return child;
}

}  // namespace sbx::vmm
