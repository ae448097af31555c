#include "image/saved_layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <sys/sysmacros.h>

#include "image/safe_fs.h"

namespace sbx::image {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueName = ".wh..wh..opq";
constexpr std::size_t kMaxComponent = 255;
constexpr std::size_t kMaxOpaqueLines = 100000;

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// A guest entry name, cleaned: "" is the root; nullopt when refused (absolute, '..', control
// characters, a component too long).
std::optional<std::string> guest_name(const char* raw) {
  if (raw == nullptr) return std::nullopt;
  const std::string_view name(raw);
  if (name.starts_with("/")) return std::nullopt;
  auto clean = clean_member_path(name);
  if (!clean) return std::nullopt;
  for (std::size_t at = 0; at < clean->size();) {
    std::size_t slash = clean->find('/', at);
    if (slash == std::string::npos) slash = clean->size();
    if (slash - at > kMaxComponent) return std::nullopt;
    at = slash + 1;
  }
  return clean;
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string join(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

std::string shown(const char* raw) { return std::string(raw ? raw : "").substr(0, 200); }

Result<void> refuse(const std::string& what, const std::string& hint = "") {
  return fail(ErrorCode::permission, "the sandbox sent " + what + "; refused", hint);
}

class LayerWriter {
 public:
  explicit LayerWriter(int fd) : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_.get());
    ok_ = archive_write_open_fd(a_.get(), fd) == ARCHIVE_OK;
  }
  bool ok() const { return ok_; }

  Result<void> header(archive_entry* e) {
    if (archive_write_header(a_.get(), e) < ARCHIVE_WARN)
      return fail(ErrorCode::io, std::string("cannot write the layer: ") + archive_error_string(a_.get()));
    return {};
  }
  Result<void> data(const void* buf, std::size_t size) {
    if (archive_write_data(a_.get(), buf, size) < 0)
      return fail(ErrorCode::io, std::string("cannot write the layer: ") + archive_error_string(a_.get()));
    return {};
  }
  // An empty regular file (a whiteout or an opaque marker), owned by root.
  Result<void> marker(const std::string& path) {
    std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), 0);
    return header(e.get());
  }
  Result<void> close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK)
      return fail(ErrorCode::io, std::string("cannot finish the layer: ") + archive_error_string(a_.get()));
    return {};
  }

 private:
  std::unique_ptr<archive, WriteFree> a_;
  bool ok_ = false;
};

}  // namespace

Result<LayerStats> convert_guest_tar(int in_fd, int out_fd, GuestTree tree, const std::set<std::string>& opaque_dirs,
                                     const LayerBudget& budget) {
  std::unique_ptr<archive, ReadFree> in(archive_read_new());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  if (archive_read_open_fd(in.get(), in_fd, 1 << 16) != ARCHIVE_OK)
    return fail(ErrorCode::invalid, std::string("the sandbox's tar stream: ") + archive_error_string(in.get()));
  LayerWriter out(out_fd);
  if (!out.ok()) return fail(ErrorCode::io, "cannot start the layer file");
  LayerStats stats;
  std::set<std::string> written_files;  // hard-link targets must be among them
  std::set<std::string> seen;           // a name sent twice would let a whiteout follow a file
  std::set<std::string> whiteout_names;  // guest names that were whiteouts (hard-link targets)
  std::string buf(1 << 16, '\0');
  const bool upper = tree == GuestTree::upper;
  for (;;) {
    archive_entry* e = nullptr;
    const int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return fail(ErrorCode::invalid, std::string("the sandbox's tar stream is not readable: ") + archive_error_string(in.get()));
    const char* raw = archive_entry_pathname(e);
    auto name = guest_name(raw);
    if (!name) return std::unexpected(refuse("an unsafe path '" + shown(raw) + "'", "absolute paths, '..' and control characters are never kept").error());
    const auto type = archive_entry_filetype(e);
    if (name->empty()) {  // the tree's root keeps the image's own mode
      if (upper && opaque_dirs.count("")) {
        SBX_TRY_VOID(out.marker(std::string(kOpaqueName)));
        ++stats.opaque_dirs;
      }
      continue;
    }
    const std::string base = base_of(*name);
    const std::string parent = name->size() > base.size() ? name->substr(0, name->size() - base.size() - 1) : std::string();
    if (base.starts_with(kWhiteoutPrefix))
      return std::unexpected(refuse("an entry named '" + *name + "'", "a name starting with .wh. means a deletion in an image layer; rename the file in the sandbox").error());
    if (!seen.insert(*name).second)
      return std::unexpected(refuse("the entry '" + *name + "' twice").error());
    if (stats.entries >= budget.max_entries)
      return fail(ErrorCode::invalid, "the sandbox sent more than " + std::to_string(budget.max_entries) + " entries; stopped",
                  "remove files in the sandbox before saving it");
    // The kernel links whiteouts to one shared inode, so tar sends all but the first as hard links.
    const char* link_raw = archive_entry_hardlink(e);
    const auto link_target = link_raw ? guest_name(link_raw) : std::nullopt;
    const bool linked_whiteout = link_target && whiteout_names.count(*link_target);
    if (upper && (linked_whiteout || (type == AE_IFCHR && archive_entry_rdev(e) == 0 && link_raw == nullptr))) {
      whiteout_names.insert(*name);
      SBX_TRY_VOID(out.marker(join(parent, std::string(kWhiteoutPrefix) + base)));
      ++stats.whiteouts;
      ++stats.entries;
      continue;
    }
    if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO || type == AE_IFSOCK) {
      stats.skipped.push_back(*name + " (" + (type == AE_IFIFO ? "a fifo" : type == AE_IFSOCK ? "a socket" : "a device node") + ")");
      continue;
    }
    const bool hardlink = archive_entry_hardlink(e) != nullptr;
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && !hardlink)
      return std::unexpected(refuse("'" + *name + "', of an unknown file type").error());
    archive_entry_xattr_clear(e);
    archive_entry_acl_clear(e);
    archive_entry_set_uname(e, nullptr);
    archive_entry_set_gname(e, nullptr);
    archive_entry_set_pathname(e, name->c_str());
    if (hardlink) {
      auto target = guest_name(archive_entry_hardlink(e));
      if (!target || !written_files.count(*target))
        return std::unexpected(refuse("a hard link '" + *name + "' to '" + shown(archive_entry_hardlink(e)) + "', which it did not send before").error());
      archive_entry_set_hardlink(e, target->c_str());
      archive_entry_set_size(e, 0);
    }
    const la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (size < 0) return std::unexpected(refuse("a negative size for '" + *name + "'").error());
    if (type == AE_IFREG && !hardlink) {
      stats.bytes += static_cast<std::uint64_t>(size);
      if (stats.bytes > budget.max_bytes)
        return fail(ErrorCode::invalid, "the sandbox sent more than " + std::to_string(budget.max_bytes >> 20) + " MiB of files; stopped",
                    "remove files in the sandbox, or raise --max-bytes");
    }
    // Sparse maps are not kept: the contents are written out in full (and counted above).
    archive_entry_sparse_clear(e);
    SBX_TRY_VOID(out.header(e));
    if (type == AE_IFREG && !hardlink) {
      std::uint64_t copied = 0;
      for (;;) {
        const la_ssize_t n = archive_read_data(in.get(), buf.data(), buf.size());
        if (n < 0) return fail(ErrorCode::invalid, std::string("the sandbox's tar stream broke: ") + archive_error_string(in.get()));
        if (n == 0) break;
        copied += static_cast<std::uint64_t>(n);
        if (copied > static_cast<std::uint64_t>(size))
          return std::unexpected(refuse("more data for '" + *name + "' than its size").error());
        SBX_TRY_VOID(out.data(buf.data(), static_cast<std::size_t>(n)));
      }
      if (copied != static_cast<std::uint64_t>(size))
        return fail(ErrorCode::invalid, "the sandbox's tar stream ended inside '" + *name + "'");
      written_files.insert(*name);
      ++stats.files;
    } else if (hardlink) {
      ++stats.hardlinks;
    } else if (type == AE_IFDIR) {
      ++stats.dirs;
      if (upper && opaque_dirs.count(*name)) {
        SBX_TRY_VOID(out.marker(join(*name, kOpaqueName)));
        ++stats.opaque_dirs;
      }
    } else {
      ++stats.symlinks;
    }
    ++stats.entries;
  }
  SBX_TRY_VOID(out.close());
  return stats;
}

std::set<std::string> parse_opaque_list(std::string_view text) {
  std::set<std::string> out;
  std::size_t at = 0;
  while (at < text.size() && out.size() < kMaxOpaqueLines) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string line(text.substr(at, nl - at));
    at = nl + 1;
    if (line.empty()) continue;
    if (auto name = guest_name(line.c_str())) out.insert(*name);
  }
  return out;
}

std::string opaque_list_script() {
  const std::string upper(kGuestUpperDir), lower(kGuestLowerDir);
  // The root overlay is bind-mounted alone (no submounts), so /tmp, /dev or a [[mount]] target
  // do not hide lower entries; where that fails, "/" is looked at.
  return "sync\n"
         "m=/run/sbx-save-root\n"
         "mkdir -p \"$m\" && mount --bind / \"$m\" 2>/dev/null || m=\n"
         "cd " + upper + " || exit 3\n"
         "find . -type d | while IFS= read -r d; do\n"
         "  l=\"" + lower + "/$d\"\n"
         "  { [ -d \"$l\" ] && [ ! -L \"$l\" ]; } || continue\n"
         "  for e in \"$l\"/* \"$l\"/.[!.]* \"$l\"/..?*; do\n"
         "    { [ -e \"$e\" ] || [ -L \"$e\" ]; } || continue\n"
         "    n=\"${e##*/}\"\n"
         "    if [ -e \"$d/$n\" ] || [ -L \"$d/$n\" ]; then continue; fi\n"
         "    if [ ! -e \"$m/$d/$n\" ] && [ ! -L \"$m/$d/$n\" ]; then printf '%s\\n' \"$d\"; break; fi\n"
         "  done\n"
         "done\n"
         "s=$?\n"
         "[ -n \"$m\" ] && umount \"$m\" && rmdir \"$m\"\n"
         "exit $s\n";
}

}  // namespace sbx::image
