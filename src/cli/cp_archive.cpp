#include "cli/cp_archive.h"

#include <algorithm>
#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <memory>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fd.h"

namespace sbx::cli {
namespace {

constexpr int kMaxDepth = 256;

std::string os_error(const std::string& what) { return what + ": " + std::strerror(errno); }

// One component beneath `dir`, as a directory: no symlink followed, nothing outside `dir`.
Fd open_dir_beneath(int dir, const std::string& name) {
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return Fd(static_cast<int>(::syscall(SYS_openat2, dir, name.c_str(), &how, sizeof how)));
}

// The components of an entry's path, or a reason it is refused.
Result<std::vector<std::string>> split_entry(const std::string& path) {
  if (path.empty()) return fail(ErrorCode::invalid, std::string("the guest sent an entry with an empty name"));
  if (path[0] == '/') return fail(ErrorCode::permission, "the guest sent an absolute path '" + path + "'; refused");
  std::vector<std::string> parts;
  for (size_t at = 0; at <= path.size();) {
    size_t slash = path.find('/', at);
    if (slash == std::string::npos) slash = path.size();
    std::string part = path.substr(at, slash - at);
    at = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return fail(ErrorCode::permission, "the guest sent a path with '..': '" + path + "'; refused");
    if (part.size() > 255) return fail(ErrorCode::invalid, "the guest sent a name longer than 255 bytes in '" + path + "'");
    parts.push_back(std::move(part));
  }
  if (parts.empty()) return fail(ErrorCode::invalid, "the guest sent an entry with an empty name");
  if (parts.size() > kMaxDepth) return fail(ErrorCode::invalid, "the guest sent a path deeper than 256 levels");
  return parts;
}

// Walks to the parent of `parts` beneath `root`, creating missing directories (0700 until the end).
Result<Fd> parent_of(int root, const std::vector<std::string>& parts, const std::string& shown) {
  Fd cur(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    Fd next = open_dir_beneath(cur.get(), parts[i]);
    if (!next && errno == ENOENT) {
      if (::mkdirat(cur.get(), parts[i].c_str(), 0700) != 0 && errno != EEXIST)
        return fail(ErrorCode::io, os_error("cannot create a directory for '" + shown + "'"));
      next = open_dir_beneath(cur.get(), parts[i]);
    }
    if (!next)
      return fail(ErrorCode::permission, errno == ELOOP || errno == ENOTDIR || errno == EXDEV
                                             ? "'" + shown + "' would be written through a symlink or a non-directory; refused"
                                             : os_error("cannot open the directory of '" + shown + "'"));
    cur = std::move(next);
  }
  return cur;
}

// Removes a non-directory at `name` in `dir` (never following it); a directory stays.
void clear_non_dir(int dir, const std::string& name) {
  struct stat st{};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) ::unlinkat(dir, name.c_str(), 0);
}

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

}  // namespace

Result<CopyCount> extract_tar(int in_fd, int dest_fd, const std::string& top, const std::string& as, const ExtractBudget& budget) {
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_fd(a.get(), in_fd, 64 * 1024) != ARCHIVE_OK)
    return fail(ErrorCode::runtime, std::string("cannot read the guest's archive: ") + archive_error_string(a.get()));
  CopyCount count;
  struct DirMode { std::vector<std::string> parts; mode_t mode; };
  std::vector<DirMode> dir_modes;
  std::uint64_t entries = 0;
  std::vector<char> buf(256 * 1024);
  for (;;) {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      return fail(ErrorCode::runtime, std::string("the guest's archive is malformed: ") + archive_error_string(a.get()));
    const char* raw = archive_entry_pathname(e);
    const std::string path = raw ? raw : "";
    if (++entries > budget.max_entries)
      return fail(ErrorCode::permission, "the guest sent more than " + std::to_string(budget.max_entries) + " entries; stopped",
                  "copy a smaller tree");
    auto parts = SBX_TRY(split_entry(path));
    if (parts[0] != top)
      return fail(ErrorCode::permission, "the guest sent '" + path + "', outside the '" + top + "' that was asked for; refused");
    parts[0] = as;
    if (archive_entry_hardlink(e))
      return fail(ErrorCode::permission, "the guest sent a hard link '" + path + "'; hard links are refused");
    const mode_t type = archive_entry_filetype(e);
    const mode_t perm = archive_entry_perm(e) & 0777;  // never set-uid, set-gid or sticky on the host
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
      return fail(ErrorCode::permission, "the guest sent '" + path + "', a device, fifo or socket; refused");
    Fd parent = SBX_TRY(parent_of(dest_fd, parts, path));
    const std::string& name = parts.back();
    if (type == AE_IFDIR) {
      if (::mkdirat(parent.get(), name.c_str(), 0700) != 0) {
        if (errno != EEXIST) return fail(ErrorCode::io, os_error("cannot create '" + path + "'"));
        Fd existing = open_dir_beneath(parent.get(), name);
        if (!existing) {
          clear_non_dir(parent.get(), name);
          if (::mkdirat(parent.get(), name.c_str(), 0700) != 0) return fail(ErrorCode::io, os_error("cannot create '" + path + "'"));
        }
      }
      dir_modes.push_back({parts, perm});
      ++count.dirs;
      continue;
    }
    clear_non_dir(parent.get(), name);
    if (type == AE_IFLNK) {
      const char* to = archive_entry_symlink(e);
      if (!to || ::symlinkat(to, parent.get(), name.c_str()) != 0)
        return fail(ErrorCode::io, os_error("cannot create the symlink '" + path + "'"));
      ++count.symlinks;
      continue;
    }
    const la_int64_t size = archive_entry_size(e);
    if (size < 0 || count.bytes + static_cast<std::uint64_t>(size) > budget.max_bytes)
      return fail(ErrorCode::permission, "the guest sent more than " + std::to_string(budget.max_bytes) + " bytes; stopped",
                  "copy less, or raise --max-bytes");
    Fd out(::openat(parent.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return fail(ErrorCode::io, os_error("cannot create '" + path + "'"));
    std::uint64_t written = 0;
    for (;;) {
      const la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) return fail(ErrorCode::runtime, std::string("the guest's archive is malformed: ") + archive_error_string(a.get()));
      written += static_cast<std::uint64_t>(n);
      if (count.bytes + written > budget.max_bytes)
        return fail(ErrorCode::permission, "the guest sent more than " + std::to_string(budget.max_bytes) + " bytes; stopped");
      for (la_ssize_t off = 0; off < n;) {
        const ssize_t w = ::write(out.get(), buf.data() + off, static_cast<size_t>(n - off));
        if (w < 0) return fail(ErrorCode::io, os_error("cannot write '" + path + "'"));
        off += w;
      }
    }
    if (::fchmod(out.get(), perm) != 0) return fail(ErrorCode::io, os_error("cannot set the mode of '" + path + "'"));
    count.bytes += written;
    ++count.files;
  }
  // Directory modes last, deepest first, so a read-only directory did not block its contents.
  for (auto it = dir_modes.rbegin(); it != dir_modes.rend(); ++it) {
    std::vector<std::string> with_leaf = it->parts;
    auto parent = parent_of(dest_fd, with_leaf, with_leaf.back());
    if (!parent) continue;
    if (Fd d = open_dir_beneath(parent->get(), with_leaf.back())) ::fchmod(d.get(), it->mode);
  }
  return count;
}

namespace {

struct WriterDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

class Packer {
 public:
  Packer(archive* a, CopyCount& count) : a_(a), count_(count) {}

  // One entry `name` whose descriptor (opened without following) is `fd`, recursively.
  Result<void> add(int fd, const struct stat& st, const std::string& name, int depth) {
    if (depth > kMaxDepth) return fail(ErrorCode::invalid, "'" + name + "' is deeper than 256 levels");
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_perm(e.get(), st.st_mode & 07777);
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), st.st_size);
      SBX_TRY_VOID(header(e.get(), name));
      std::vector<char> buf(256 * 1024);
      std::int64_t left = st.st_size;
      while (left > 0) {
        const ssize_t n = ::read(fd, buf.data(), static_cast<size_t>(std::min<std::int64_t>(left, buf.size())));
        if (n < 0) return fail(ErrorCode::io, os_error("cannot read '" + name + "'"));
        if (n == 0) break;  // shrank while read: the header's size is padded below
        if (archive_write_data(a_, buf.data(), static_cast<size_t>(n)) < 0) return write_error();
        left -= n;
      }
      if (left > 0) {
        std::fill(buf.begin(), buf.end(), 0);
        while (left > 0) {
          const auto n = std::min<std::int64_t>(left, buf.size());
          if (archive_write_data(a_, buf.data(), static_cast<size_t>(n)) < 0) return write_error();
          left -= n;
        }
      }
      count_.bytes += static_cast<std::uint64_t>(st.st_size);
      ++count_.files;
      return {};
    }
    if (!S_ISDIR(st.st_mode)) return fail(ErrorCode::invalid, "'" + name + "' is not a file or a directory");
    archive_entry_set_filetype(e.get(), AE_IFDIR);
    SBX_TRY_VOID(header(e.get(), name));
    ++count_.dirs;
    DIR* d = ::fdopendir(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!d) return fail(ErrorCode::io, os_error("cannot list '" + name + "'"));
    std::vector<std::string> names;
    while (dirent* de = ::readdir(d))
      if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0) names.push_back(de->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      const std::string child = name + "/" + n;
      struct stat cst{};
      if (::fstatat(fd, n.c_str(), &cst, AT_SYMLINK_NOFOLLOW) != 0) return fail(ErrorCode::io, os_error("cannot stat '" + child + "'"));
      if (S_ISLNK(cst.st_mode)) {
        SBX_TRY_VOID(add_symlink(fd, n, child, cst));
        continue;
      }
      if (!S_ISREG(cst.st_mode) && !S_ISDIR(cst.st_mode)) {
        count_.skipped.push_back(child + " (not a file, directory or symlink)");
        continue;
      }
      // O_NOFOLLOW and the same inode as the lstat: a swap for a symlink meanwhile is caught.
      Fd cfd(::openat(fd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (S_ISDIR(cst.st_mode) ? O_DIRECTORY : 0)));
      struct stat now{};
      if (!cfd || ::fstat(cfd.get(), &now) != 0) return fail(ErrorCode::io, os_error("cannot open '" + child + "'"));
      if (now.st_ino != cst.st_ino || now.st_dev != cst.st_dev)
        return fail(ErrorCode::conflict, "'" + child + "' changed while it was copied", "try again");
      SBX_TRY_VOID(add(cfd.get(), now, child, depth + 1));
    }
    return {};
  }

 private:
  Result<void> add_symlink(int dir, const std::string& n, const std::string& child, const struct stat& st) {
    std::vector<char> to(static_cast<size_t>(std::max<off_t>(st.st_size, 255)) + 2);
    const ssize_t len = ::readlinkat(dir, n.c_str(), to.data(), to.size() - 1);
    if (len < 0) return fail(ErrorCode::io, os_error("cannot read the symlink '" + child + "'"));
    to[static_cast<size_t>(len)] = 0;
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), child.c_str());
    archive_entry_set_filetype(e.get(), AE_IFLNK);
    archive_entry_set_perm(e.get(), 0777);
    archive_entry_set_symlink(e.get(), to.data());
    SBX_TRY_VOID(header(e.get(), child));
    ++count_.symlinks;
    return {};
  }
  Result<void> header(archive_entry* e, const std::string& name) {
    if (archive_write_header(a_, e) < ARCHIVE_WARN)
      return fail(ErrorCode::io, "cannot send '" + name + "': " + std::string(archive_error_string(a_)));
    return {};
  }
  Result<void> write_error() { return fail(ErrorCode::io, std::string("cannot send to the guest: ") + archive_error_string(a_)); }

  archive* a_;
  CopyCount& count_;
};

}  // namespace

Result<CopyCount> pack_tar(int out_fd, const std::filesystem::path& src, const std::string& as) {
  Fd fd(::open(src.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  struct stat st{};
  if (!fd || ::fstat(fd.get(), &st) != 0) return fail(ErrorCode::not_found, os_error("cannot open " + src.string()));
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    return fail(ErrorCode::invalid, src.string() + " is not a file or a directory");
  std::unique_ptr<archive, WriterDeleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open_fd(a.get(), out_fd) != ARCHIVE_OK)
    return fail(ErrorCode::io, std::string("cannot start the archive: ") + archive_error_string(a.get()));
  CopyCount count;
  Packer p(a.get(), count);
  SBX_TRY_VOID(p.add(fd.get(), st, as, 0));
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return fail(ErrorCode::io, std::string("cannot finish the archive: ") + archive_error_string(a.get()));
  return count;
}

}  // namespace sbx::cli
