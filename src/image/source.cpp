#include "image/source.h"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errno_text.h"

namespace sbx::image {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxMembers = 1u << 20;

Result<void> write_member(int root_fd, const std::string& rel, archive* a, const std::string& display,
                          std::uint64_t& total, std::uint64_t max_bytes) {
  auto [parent, base] = split_parent(rel);
  Fd dir(mkdirs_beneath(root_fd, parent));
  if (!dir) return fail(ErrorCode::invalid, display + ": cannot place member '" + rel + "': " + errno_text());
  Fd out(::openat(dir.get(), base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return fail(ErrorCode::invalid, display + ": member '" + rel + "' appears twice or cannot be written: " + errno_text());
  const void* buf;
  size_t size;
  la_int64_t offset;
  for (;;) {
    int r = archive_read_data_block(a, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) return fail(ErrorCode::invalid, display + ": " + archive_error_string(a));
    total += size;
    if (total > max_bytes) return fail(ErrorCode::invalid, display + ": the archive unpacks larger than the limit");
    if (::pwrite(out.get(), buf, size, offset) != static_cast<ssize_t>(size))
      return fail(ErrorCode::io, "cannot write " + rel + ": " + errno_text());
  }
  return {};
}

}  // namespace

Result<Source> Source::from_directory(const fs::path& dir) {
  Source s;
  s.display_ = dir.string();
  s.root_ = Fd(::open(dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!s.root_) return fail(ErrorCode::not_found, "cannot open image directory " + dir.string() + ": " + errno_text());
  return s;
}

Result<Source> Source::from_archive(const fs::path& archive_path, const fs::path& staging, std::uint64_t max_bytes) {
  Source s;
  s.display_ = archive_path.string();
  std::error_code ec;
  fs::create_directories(staging, ec);
  if (ec) return fail(ErrorCode::io, "cannot create " + staging.string() + ": " + ec.message());
  s.root_ = Fd(::open(staging.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!s.root_) return fail(ErrorCode::io, "cannot open " + staging.string() + ": " + errno_text());
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  struct Closer {
    archive* a;
    ~Closer() { archive_read_free(a); }
  } closer{a};
  if (archive_read_open_filename(a, archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    return fail(ErrorCode::not_found, "cannot read image archive " + archive_path.string() + ": " + archive_error_string(a),
                "the archive must be a tar (optionally gzip or zstd compressed) from 'docker save' or an OCI layout");
  std::uint64_t total = 0;
  std::size_t members = 0;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return fail(ErrorCode::invalid, s.display_ + ": not a readable tar archive: " + archive_error_string(a),
                  "the archive must be a tar (optionally gzip or zstd compressed) from 'docker save' or an OCI layout");
    if (++members > kMaxMembers) return fail(ErrorCode::invalid, s.display_ + ": too many members");
    const char* raw = archive_entry_pathname(e);
    auto name = clean_member_path(raw ? raw : "");
    if (!name) return fail(ErrorCode::invalid, s.display_ + ": unsafe member name '" + std::string(raw ? raw : "").substr(0, 200) + "'");
    if (name->empty()) continue;
    switch (archive_entry_filetype(e)) {
      case AE_IFREG:
        if (archive_entry_hardlink(e)) {
          auto target = clean_member_path(archive_entry_hardlink(e));
          if (!target) return fail(ErrorCode::invalid, s.display_ + ": unsafe hard link '" + *name + "'");
          s.links_[*name] = "/" + *target;
        } else {
          SBX_TRY_VOID(write_member(s.root_.get(), *name, a, s.display_, total, max_bytes));
        }
        break;
      case AE_IFDIR: {
        Fd d(mkdirs_beneath(s.root_.get(), *name));
        if (!d) return fail(ErrorCode::invalid, s.display_ + ": cannot place directory '" + *name + "': " + errno_text());
        break;
      }
      case AE_IFLNK:
        if (const char* t = archive_entry_symlink(e)) s.links_[*name] = t;
        break;
      default:
        break;  // devices, FIFOs: an image archive has no use for them
    }
  }
  return s;
}

Result<std::string> Source::resolve(const std::string& member) const {
  auto cleaned = clean_member_path(member);
  if (!cleaned) return fail(ErrorCode::invalid, display_ + ": unsafe path '" + member.substr(0, 200) + "'");
  std::string path = *cleaned;
  // Any prefix of the path may be a recorded symlink; follow at most 16 of them.
  for (int hops = 0; hops < 16 && !links_.empty(); ++hops) {
    bool changed = false;
    for (std::size_t end = 0; end != std::string::npos;) {
      end = path.find('/', end + 1);
      const std::string prefix = path.substr(0, end);
      auto it = links_.find(prefix);
      if (it == links_.end()) continue;
      auto target = resolve_link_target(prefix, it->second);
      if (!target) return fail(ErrorCode::invalid, display_ + ": link '" + prefix + "' points outside the archive");
      path = *target + (end == std::string::npos ? std::string() : path.substr(end));
      changed = true;
      break;
    }
    if (!changed) return path;
  }
  if (links_.empty()) return path;
  return fail(ErrorCode::invalid, display_ + ": too many levels of links at '" + member.substr(0, 200) + "'");
}

bool Source::exists(const std::string& member) const {
  auto p = resolve(member);
  if (!p) return false;
  Fd fd(open_beneath(root_.get(), *p, O_PATH));
  return static_cast<bool>(fd);
}

Result<Fd> Source::open(const std::string& member) const {
  const std::string p = SBX_TRY(resolve(member));
  Fd fd(open_beneath(root_.get(), p, O_RDONLY));
  if (!fd) return fail(ErrorCode::invalid, display_ + ": cannot open '" + member.substr(0, 200) + "': " + errno_text(),
                       "the image is incomplete or not an OCI layout / docker save archive");
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return fail(ErrorCode::invalid, display_ + ": '" + member.substr(0, 200) + "' is not a regular file");
  return fd;
}

Result<std::string> Source::read_small(const std::string& member, std::size_t max) const {
  Fd fd = SBX_TRY(open(member));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrorCode::io, display_ + ": cannot read '" + member + "': " + errno_text());
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max)
      return fail(ErrorCode::invalid, display_ + ": '" + member + "' is larger than " + std::to_string(max) + " bytes");
  }
  return out;
}

}  // namespace sbx::image
