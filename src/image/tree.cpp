#include "image/tree.h"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "common/errno_text.h"
#include "common/log.h"

namespace sbx::image {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kWhiteout = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

// libarchive's disk writer works relative to the current directory; hold it at the tree root
// for one layer and go back afterwards (sbx prepares images before it starts threads).
class CwdGuard {
 public:
  explicit CwdGuard(int dir_fd) : saved_(::open(".", O_DIRECTORY | O_RDONLY | O_CLOEXEC)) { ok_ = ::fchdir(dir_fd) == 0; }
  ~CwdGuard() {
    if (saved_) [[maybe_unused]] int r = ::fchdir(saved_.get());
  }
  bool ok() const { return ok_; }

 private:
  Fd saved_;
  bool ok_ = false;
};

struct ReadCloser {
  archive* a;
  ~ReadCloser() { archive_read_free(a); }
};
struct WriteCloser {
  archive* a;
  ~WriteCloser() { archive_write_free(a); }
};

}  // namespace

Result<TreeBuilder> TreeBuilder::open(const fs::path& root, bool restore_owners, std::uint64_t max_bytes) {
  TreeBuilder b;
  b.path_ = root;
  b.restore_owners_ = restore_owners;
  b.max_bytes_ = max_bytes;
  b.root_ = Fd(::open(root.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!b.root_) return fail(ErrorCode::io, "cannot open " + root.string() + ": " + errno_text());
  return b;
}

void TreeBuilder::forget(const std::string& path) {
  meta_.erase(path);
  auto lo = meta_.lower_bound(path + "/");
  auto hi = meta_.lower_bound(path + "0");  // '0' follows '/'
  meta_.erase(lo, hi);
}

Result<void> TreeBuilder::whiteout(const std::string& parent, const std::string& name, const std::string& display) {
  if (name.empty() || name == "." || name == "..")
    return fail(ErrorCode::invalid, display + ": malformed whiteout in '" + parent + "'");
  const std::string path = parent.empty() ? name : parent + "/" + name;
  ++stats_.whiteouts;
  // A whiteout hides lower layers only; the same layer's own entry stays.
  if (this_layer_.count(path)) return {};
  Fd dir(open_beneath(root_.get(), parent, O_DIRECTORY | O_RDONLY));
  if (!dir) {
    if (errno == ENOENT) return {};
    return fail(ErrorCode::invalid, display + ": whiteout of '" + path + "' goes through a symlink or a file",
                "the layer is malformed or hostile");
  }
  if (!remove_at(dir.get(), name)) return fail(ErrorCode::io, display + ": cannot remove '" + path + "': " + errno_text());
  forget(path);
  return {};
}

void TreeBuilder::clear_below(int dir_fd, const std::string& dir) {
  std::vector<std::string> names;
  {
    int fd = ::openat(dir_fd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
    if (!d) {
      if (fd >= 0) ::close(fd);
      return;
    }
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
  }
  for (const auto& n : names) {
    const std::string path = dir.empty() ? n : dir + "/" + n;
    if (!this_layer_.count(path)) {
      remove_at(dir_fd, n);
      forget(path);
      continue;
    }
    struct stat st{};
    if (::fstatat(dir_fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      Fd child(::openat(dir_fd, n.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (child) clear_below(child.get(), path);
    }
  }
}

Result<void> TreeBuilder::opaque(const std::string& dir, const std::string& display) {
  Fd fd(mkdirs_beneath(root_.get(), dir));
  if (!fd) return fail(ErrorCode::invalid, display + ": opaque directory '" + dir + "' goes through a symlink or a file",
                       "the layer is malformed or hostile");
  clear_below(fd.get(), dir);
  return {};
}

Result<void> TreeBuilder::apply(int fd, const std::string& display, const std::function<void(std::uint64_t)>& done) {
  auto log = sbx::log::get("image");
  this_layer_.clear();
  archive* in = archive_read_new();
  ReadCloser in_closer{in};
  archive_read_support_filter_all(in);
  archive_read_support_format_tar(in);
  if (archive_read_open_fd(in, fd, 1 << 16) != ARCHIVE_OK)
    return fail(ErrorCode::invalid, display + ": " + archive_error_string(in));
  archive* out = archive_write_disk_new();
  WriteCloser out_closer{out};
  int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_UNLINK |
              ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
              ARCHIVE_EXTRACT_SPARSE;
  if (restore_owners_) flags |= ARCHIVE_EXTRACT_OWNER;
  archive_write_disk_set_options(out, flags);
  CwdGuard cwd(root_.get());
  if (!cwd.ok()) return fail(ErrorCode::io, "cannot enter " + path_.string() + ": " + errno_text());

  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return fail(ErrorCode::invalid, display + ": not a readable tar layer: " + archive_error_string(in),
                  "the layer is corrupt");
    const char* raw = archive_entry_pathname(e);
    auto name = clean_member_path(raw ? raw : "");
    if (!name) return fail(ErrorCode::invalid, display + ": unsafe path '" + std::string(raw ? raw : "").substr(0, 200) + "' in a layer",
                           "the layer is malformed or hostile ('..', control characters)");
    if (name->empty()) continue;  // "./": the root keeps its own mode
    auto [parent, base] = split_parent(*name);
    if (base == kOpaque) {
      SBX_TRY_VOID(opaque(parent, display));
      continue;
    }
    if (base.starts_with(kWhiteout)) {
      if (base.starts_with(".wh..wh.")) continue;  // other AUFS metadata
      SBX_TRY_VOID(whiteout(parent, base.substr(kWhiteout.size()), display));
      continue;
    }
    const auto type = archive_entry_filetype(e);
    if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK) {
      // Device nodes: the guest has its own devtmpfs on /dev; none comes from an image.
      ++stats_.skipped_devices;
      log->debug("{}: skipped device node {}", display, *name);
      continue;
    }
    Fd dir(mkdirs_beneath(root_.get(), parent));
    if (!dir)
      return fail(ErrorCode::invalid, display + ": '" + *name + "' would be written through a symlink or a file ('" + parent + "')",
                  "the layer is malformed or hostile");
    struct stat st{};
    if (::fstatat(dir.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      const bool want_dir = type == AE_IFDIR;
      if (S_ISDIR(st.st_mode) != want_dir || !want_dir) {
        if (!remove_at(dir.get(), base)) return fail(ErrorCode::io, display + ": cannot replace '" + *name + "': " + errno_text());
        forget(*name);
      }
    }
    archive_entry_set_pathname(e, name->c_str());
    if (const char* link = archive_entry_hardlink(e)) {
      auto target = clean_member_path(link);
      if (!target || target->empty())
        return fail(ErrorCode::invalid, display + ": unsafe hard link '" + *name + "'", "the layer is malformed or hostile");
      Fd t(open_beneath(root_.get(), *target, O_PATH));
      struct stat ts{};
      if (!t || ::fstat(t.get(), &ts) != 0 || S_ISDIR(ts.st_mode))
        return fail(ErrorCode::invalid, display + ": hard link '" + *name + "' to '" + *target + "', which is missing, a directory or behind a symlink",
                    "the layer is malformed or hostile");
      archive_entry_set_hardlink(e, target->c_str());
      // One inode: the link's recorded owner is its target's (debugfs sets owners per path).
      if (auto it = meta_.find(*target); !restore_owners_ && it != meta_.end()) meta_[*name] = it->second;
    }
    if (!restore_owners_ && !archive_entry_hardlink(e)) {
      meta_[*name] = EntryMeta{static_cast<unsigned>(archive_entry_uid(e)), static_cast<unsigned>(archive_entry_gid(e)),
                               static_cast<unsigned>(archive_entry_mode(e))};
      // Without root, keep what we create readable and writable for us (mkfs reads it, later
      // layers write into it); the layer's real mode goes into the disk through meta().
      const mode_t perm = archive_entry_perm(e);
      archive_entry_set_perm(e, perm | (type == AE_IFDIR ? 0700 : 0600));
    }
    stats_.bytes += static_cast<std::uint64_t>(std::max<la_int64_t>(0, archive_entry_size(e)));
    if (stats_.bytes > max_bytes_)
      return fail(ErrorCode::invalid, "the image unpacks to more than " + std::to_string(max_bytes_ >> 20) + " MiB",
                  "the limit guards against decompression bombs");
    r = archive_write_header(out, e);
    if (r < ARCHIVE_WARN)
      return fail(ErrorCode::invalid, display + ": cannot extract '" + *name + "': " + archive_error_string(out),
                  "the layer is malformed or hostile");
    if (r == ARCHIVE_WARN) log->debug("{}: {}: {}", display, *name, archive_error_string(out));
    if (archive_entry_size(e) > 0) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      for (;;) {
        r = archive_read_data_block(in, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return fail(ErrorCode::invalid, display + ": " + archive_error_string(in), "the layer is corrupt");
        if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN)
          return fail(ErrorCode::io, display + ": cannot write '" + *name + "': " + archive_error_string(out));
      }
    }
    if (archive_write_finish_entry(out) < ARCHIVE_WARN)
      return fail(ErrorCode::io, display + ": cannot finish '" + *name + "': " + archive_error_string(out));
    this_layer_.insert(*name);
    ++stats_.entries;
    if (done) done(static_cast<std::uint64_t>(archive_filter_bytes(in, -1)));
  }
  if (archive_write_close(out) < ARCHIVE_WARN)
    return fail(ErrorCode::io, display + ": " + archive_error_string(out));
  return {};
}

}  // namespace sbx::image
