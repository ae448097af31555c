#include "guest/host/cpio.h"

#include <archive.h>
#include <archive_entry.h>
#include <memory>
#include <sys/stat.h>
#include <sys/types.h>

namespace sbx::guest {
namespace {

// libarchive's output callback: the archive grows in memory.
la_ssize_t append(struct archive*, void* out, const void* buf, std::size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

using Entry = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;
using Reader = std::unique_ptr<struct archive, decltype(&archive_read_free)>;

}  // namespace

CpioWriter::CpioWriter() : a_(archive_write_new()) {
  if (!a_) {
    error_ = "cpio: out of memory";
    return;
  }
  // Unblocked output: no padding to a 10 KiB block after the trailer, as the kernel reads it.
  if (archive_write_set_format_cpio_newc(a_) != ARCHIVE_OK || archive_write_set_bytes_per_block(a_, 0) != ARCHIVE_OK ||
      archive_write_open(a_, &out_, nullptr, append, nullptr) != ARCHIVE_OK)
    note_error("cannot start the archive");
}

CpioWriter::~CpioWriter() {
  if (a_) archive_write_free(a_);
}

void CpioWriter::note_error(std::string_view what) {
  if (!error_.empty()) return;
  const char* why = a_ ? archive_error_string(a_) : nullptr;
  error_ = "cpio: " + std::string(what) + (why ? std::string(": ") + why : std::string());
}

void CpioWriter::add_entry(std::string_view name, std::uint32_t mode, std::string_view data, std::string_view link) {
  if (!error_.empty()) return;
  Entry e(archive_entry_new(), archive_entry_free);
  if (!e) return note_error("out of memory");
  const std::string path(name);
  archive_entry_copy_pathname(e.get(), path.c_str());
  archive_entry_set_mode(e.get(), mode);
  // Fixed metadata: the same inputs give the same bytes (and the same cache digest).
  archive_entry_set_ino(e.get(), next_ino_++);
  archive_entry_set_nlink(e.get(), S_ISDIR(mode) ? 2 : 1);
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  archive_entry_set_mtime(e.get(), 0, 0);
  archive_entry_set_dev(e.get(), 0);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  if (S_ISLNK(mode)) archive_entry_copy_symlink(e.get(), std::string(link).c_str());
  if (archive_write_header(a_, e.get()) != ARCHIVE_OK) return note_error("cannot add " + path);
  while (!data.empty()) {
    const la_ssize_t n = archive_write_data(a_, data.data(), data.size());
    if (n <= 0) return note_error("cannot write " + path);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void CpioWriter::add_dir(std::string_view name, std::uint32_t mode) { add_entry(name, S_IFDIR | (mode & 07777), {}, {}); }

void CpioWriter::add_file(std::string_view name, std::string_view data, std::uint32_t mode) {
  add_entry(name, S_IFREG | (mode & 07777), data, {});
}

void CpioWriter::add_symlink(std::string_view name, std::string_view target) {
  add_entry(name, S_IFLNK | 0777, {}, target);
}

Result<std::string> CpioWriter::finish() {
  if (error_.empty() && archive_write_close(a_) != ARCHIVE_OK) note_error("cannot finish the archive");
  if (!error_.empty()) return fail(ErrorCode::io, error_);
  archive_write_free(a_);
  a_ = nullptr;
  error_ = "cpio: the archive was already finished";
  return std::move(out_);
}

Result<std::vector<CpioEntry>> read_cpio(std::string_view bytes) {
  Reader r(archive_read_new(), archive_read_free);
  if (!r) return fail(ErrorCode::io, "cpio: out of memory");
  auto error = [&](std::string what) {
    const char* why = archive_error_string(r.get());
    return fail(ErrorCode::invalid, "cpio: " + what + (why ? std::string(": ") + why : std::string()));
  };
  if (archive_read_support_format_cpio(r.get()) != ARCHIVE_OK ||
      archive_read_open_memory(r.get(), bytes.data(), bytes.size()) != ARCHIVE_OK)
    return error("not a cpio archive");
  std::vector<CpioEntry> entries;
  while (true) {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(r.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK) return error("bad header after " + std::to_string(entries.size()) + " entries");
    if (archive_format(r.get()) != ARCHIVE_FORMAT_CPIO_SVR4_NOCRC) return error("not a newc archive");
    CpioEntry out{archive_entry_pathname(e) ? archive_entry_pathname(e) : "", archive_entry_mode(e),
                  static_cast<std::uint32_t>(archive_entry_uid(e)), static_cast<std::uint32_t>(archive_entry_gid(e)), {}};
    if (const char* link = archive_entry_symlink(e)) out.data = link;
    char buf[16384];
    la_ssize_t n;
    while ((n = archive_read_data(r.get(), buf, sizeof buf)) > 0) out.data.append(buf, static_cast<std::size_t>(n));
    if (n < 0) return error("truncated data of " + out.name);
    entries.push_back(std::move(out));
  }
  return entries;
}

}  // namespace sbx::guest
