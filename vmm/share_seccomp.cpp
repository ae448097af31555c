#include "vmm/share_seccomp.h"

#include <cerrno>
#include <cstring>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace sbx::vmm {

namespace {

// A syscall whose mode argument (index `arg`) may not carry set-id bits.
struct ModeCall {
  const char* name;
  unsigned arg;
};

// Every way a file's mode is set from a scalar argument. fchmodat2 is left to virtiofsd's own
// allowlist, which (QEMU 7.2, glibc 2.36) has no entry for it.
constexpr ModeCall kModeCalls[] = {
    {"chmod", 1},  {"fchmod", 1}, {"fchmodat", 2}, {"open", 2},   {"openat", 3},
    {"creat", 1},  {"mkdir", 1},  {"mkdirat", 2},  {"mknod", 1},  {"mknodat", 2},
};

constexpr const char* kXattrWrites[] = {"setxattr", "lsetxattr", "fsetxattr"};

struct Ctx {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  ~Ctx() {
    if (ctx) seccomp_release(ctx);
  }
};

Error filter_error(const char* what, int rc) {
  return make_error(ErrorCode::runtime, std::string("building virtiofsd's seccomp filter: ") + what + ": " + std::strerror(-rc),
                    "libseccomp 2.5 or newer is needed (Debian: libseccomp2)");
}

}  // namespace

Result<std::vector<sock_filter>> share_seccomp_program() {
  Ctx c;
  if (!c.ctx) return std::unexpected(filter_error("seccomp_init", -ENOMEM));
  for (const ModeCall& call : kModeCalls) {
    const int nr = seccomp_syscall_resolve_name(call.name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture (x86-64 has them all)
    for (const scmp_datum_t bit : {scmp_datum_t{S_ISUID}, scmp_datum_t{S_ISGID}}) {
      const scmp_arg_cmp cmp{call.arg, SCMP_CMP_MASKED_EQ, bit, bit};
      if (int rc = seccomp_rule_add_array(c.ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &cmp); rc < 0)
        return std::unexpected(filter_error(call.name, rc));
    }
  }
  for (const char* name : kXattrWrites)
    if (int rc = seccomp_rule_add(c.ctx, SCMP_ACT_ERRNO(EPERM), seccomp_syscall_resolve_name(name), 0); rc < 0)
      return std::unexpected(filter_error(name, rc));
  if (const int nr = seccomp_syscall_resolve_name("openat2"); nr != __NR_SCMP_ERROR)
    if (int rc = seccomp_rule_add(c.ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0); rc < 0)
      return std::unexpected(filter_error("openat2", rc));
  // libseccomp 2.5 exports only to a descriptor: go through a memfd.
  const int fd = ::memfd_create("sbx-seccomp", MFD_CLOEXEC);
  if (fd < 0) return std::unexpected(filter_error("memfd_create", -errno));
  const int rc = seccomp_export_bpf(c.ctx, fd);
  const off_t size = rc == 0 ? ::lseek(fd, 0, SEEK_END) : -1;
  std::vector<sock_filter> program(size > 0 ? static_cast<size_t>(size) / sizeof(sock_filter) : 0);
  const bool ok = rc == 0 && size > 0 && size % sizeof(sock_filter) == 0 &&
                  ::pread(fd, program.data(), static_cast<size_t>(size), 0) == size;
  ::close(fd);
  if (!ok) return std::unexpected(filter_error("seccomp_export_bpf", rc < 0 ? rc : -EIO));
  return program;
}

int install_seccomp_program(const std::vector<sock_filter>& program) {
  sock_fprog prog{static_cast<unsigned short>(program.size()), const_cast<sock_filter*>(program.data())};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return errno;
  return 0;
}

}  // namespace sbx::vmm
