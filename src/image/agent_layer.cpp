#include "image/agent_layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/errno_text.h"
#include "config/preset.h"
#include "image/safe_fs.h"

namespace sbx::image {
namespace fs = std::filesystem;

namespace {

struct Packer {
  archive* a = nullptr;
  AgentLayerLimits limits;
  AgentLayerStats stats;
  // Regular files with more than one link, by (device, inode): the first path written for each.
  // Claude Code's postinstall hard-links its ~400 MB native binary to bin/claude.exe; written
  // twice, that would be a third of the layer.
  std::map<std::pair<dev_t, ino_t>, std::string> first_path;

  Result<void> header(const std::string& path, const struct stat& st, mode_t type, unsigned perm, std::int64_t size,
                      const std::string& link = {}, const std::string& hardlink = {}) {
    if (++stats.entries > limits.max_entries)
      return fail(ErrorCode::invalid, "the agent layer has more than " + std::to_string(limits.max_entries) + " entries");
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_mtime(e, st.st_mtim.tv_sec, 0);
    archive_entry_set_size(e, size);
    if (!link.empty()) archive_entry_set_symlink(e, link.c_str());
    if (!hardlink.empty()) archive_entry_set_hardlink(e, hardlink.c_str());
    const int rc = archive_write_header(a, e);
    archive_entry_free(e);
    if (rc != ARCHIVE_OK) return fail(ErrorCode::io, std::string("cannot write the agent layer: ") + archive_error_string(a));
    return {};
  }

  // `dir_fd` is open on the directory whose entries are written under `path`.
  Result<void> walk(int dir_fd, const std::string& path, int depth) {
    if (depth > 64) return fail(ErrorCode::invalid, "the agent layer nests deeper than 64 directories at " + path);
    const int dup_fd = ::dup(dir_fd);
    DIR* d = ::fdopendir(dup_fd);
    if (!d) {
      ::close(dup_fd);
      return fail(ErrorCode::io, "cannot read " + path + ": " + errno_text());
    }
    std::vector<std::string> names;
    while (dirent* de = ::readdir(d)) {
      const std::string n = de->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      if (name.find('\n') != std::string::npos) { ++stats.skipped; continue; }
      struct stat st{};
      if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      const std::string child = path + "/" + name;
      // Execute bits stay; set-id, sticky and group/other write never come from the VM.
      const unsigned perm = st.st_mode & 0755;
      if (S_ISDIR(st.st_mode)) {
        SBX_TRY_VOID(header(child, st, AE_IFDIR, perm | 0700, 0));
        Fd sub(::openat(dir_fd, name.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub) return fail(ErrorCode::io, "cannot open " + child + ": " + errno_text());
        SBX_TRY_VOID(walk(sub.get(), child, depth + 1));
      } else if (S_ISLNK(st.st_mode)) {
        // Kept as a link: it resolves inside the guest's root, never on the host.
        char target[4096];
        const ssize_t n = ::readlinkat(dir_fd, name.c_str(), target, sizeof target - 1);
        if (n <= 0) { ++stats.skipped; continue; }
        SBX_TRY_VOID(header(child, st, AE_IFLNK, 0777, 0, std::string(target, static_cast<size_t>(n))));
      } else if (S_ISREG(st.st_mode)) {
        Fd f(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!f) return fail(ErrorCode::io, "cannot open " + child + ": " + errno_text());
        struct stat fst{};
        ::fstat(f.get(), &fst);
        if (!S_ISREG(fst.st_mode)) { ++stats.skipped; continue; }
        // A second name of a file already written becomes a hard link to that earlier entry
        // (always one of this tar's own paths, whatever the VM linked).
        if (fst.st_nlink > 1) {
          const auto [it, first] = first_path.try_emplace({fst.st_dev, fst.st_ino}, child);
          if (!first) {
            SBX_TRY_VOID(header(child, fst, AE_IFREG, perm, 0, {}, it->second));
            ++stats.hardlinks;
            continue;
          }
        }
        stats.bytes += static_cast<std::uint64_t>(fst.st_size);
        if (stats.bytes > limits.max_bytes)
          return fail(ErrorCode::invalid, "the agent layer is larger than " + std::to_string(limits.max_bytes >> 20) + " MiB");
        SBX_TRY_VOID(header(child, fst, AE_IFREG, perm, fst.st_size));
        std::vector<char> buf(1 << 20);
        std::int64_t left = fst.st_size;
        while (left > 0) {
          const ssize_t r = ::read(f.get(), buf.data(), static_cast<size_t>(std::min<std::int64_t>(left, static_cast<std::int64_t>(buf.size()))));
          if (r < 0 && errno == EINTR) continue;
          if (r <= 0) return fail(ErrorCode::io, "cannot read " + child + " (it changed while packing)");
          if (archive_write_data(a, buf.data(), static_cast<size_t>(r)) < 0)
            return fail(ErrorCode::io, std::string("cannot write the agent layer: ") + archive_error_string(a));
          left -= r;
        }
      } else {
        ++stats.skipped;  // devices, FIFOs, sockets: nothing an npm package needs
      }
    }
    return {};
  }
};

}  // namespace

Result<AgentLayerStats> pack_agent_layer(const fs::path& prefix, const fs::path& out, const AgentLayerLimits& limits) {
  Fd root(::open(prefix.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!root) return fail(ErrorCode::not_found, "the npm prefix " + prefix.string() + " is missing: " + errno_text());
  Packer p;
  p.limits = limits;
  p.a = archive_write_new();
  archive_write_set_format_pax_restricted(p.a);
  if (archive_write_open_filename(p.a, out.c_str()) != ARCHIVE_OK) {
    const std::string why = archive_error_string(p.a);
    archive_write_free(p.a);
    return fail(ErrorCode::io, "cannot create " + out.string() + ": " + why);
  }
  struct stat st{};
  ::fstat(root.get(), &st);
  Result<void> r = p.header("usr", st, AE_IFDIR, 0755, 0);
  if (r) r = p.header("usr/local", st, AE_IFDIR, 0755, 0);
  if (r) r = p.walk(root.get(), "usr/local", 0);
  const bool closed = archive_write_close(p.a) == ARCHIVE_OK;
  archive_write_free(p.a);
  if (!r) {
    ::unlink(out.c_str());
    return std::unexpected(r.error());
  }
  if (!closed) return fail(ErrorCode::io, "cannot finish " + out.string());
  return p.stats;
}

Result<std::string> installed_version(const fs::path& prefix, const std::string& package) {
  if (!config::is_npm_package_name(package)) return fail(ErrorCode::invalid, "invalid npm package name '" + package + "'");
  const fs::path file = prefix / "lib" / "node_modules" / package / "package.json";
  // The file came from the VM: opened without following a symlink at its last step, bounded.
  Fd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail(ErrorCode::not_found, "npm installed no " + file.string() + ": " + errno_text());
  std::string text(64 * 1024, '\0');
  const ssize_t n = ::read(fd.get(), text.data(), text.size());
  if (n <= 0) return fail(ErrorCode::invalid, "cannot read " + file.string());
  text.resize(static_cast<size_t>(n));
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("version") || !j["version"].is_string() ||
      !config::is_npm_version_spec(j["version"].get<std::string>()))
    return fail(ErrorCode::invalid, file.string() + " has no valid \"version\"");
  return j["version"].get<std::string>();
}

}  // namespace sbx::image
