#include "guest/host/cpio.h"

#include <cstdio>
#include <stdexcept>
#include <sys/stat.h>

namespace sbx::guest {
namespace {

void hex8(std::string& out, std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08X", v);
  out.append(buf, 8);
}

void pad4(std::string& out) {
  while (out.size() % 4 != 0) out.push_back('\0');
}

std::uint32_t parse_hex8(std::string_view s) {
  std::uint32_t v = 0;
  for (char c : s) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
    else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
    else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
    else throw std::runtime_error("cpio: bad hex digit in header");
  }
  return v;
}

}  // namespace

void CpioWriter::add_entry(std::string_view name, std::uint32_t mode, std::string_view data) {
  std::size_t start = out_.size();
  out_.append("070701");
  hex8(out_, next_ino_++);                                      // ino
  hex8(out_, mode);                                             // mode
  hex8(out_, 0);                                                // uid
  hex8(out_, 0);                                                // gid
  hex8(out_, S_ISDIR(mode) ? 2 : 1);                            // nlink
  hex8(out_, 0);                                                // mtime (fixed: reproducible)
  hex8(out_, static_cast<std::uint32_t>(data.size()));          // filesize
  hex8(out_, 0);                                                // devmajor
  hex8(out_, 0);                                                // devminor
  hex8(out_, 0);                                                // rdevmajor
  hex8(out_, 0);                                                // rdevminor
  hex8(out_, static_cast<std::uint32_t>(name.size() + 1));      // namesize incl. NUL
  hex8(out_, 0);                                                // check
  out_.append(name);
  out_.push_back('\0');
  // Padding is relative to the archive start; entries always start 4-aligned.
  (void)start;
  pad4(out_);
  out_.append(data);
  pad4(out_);
}

void CpioWriter::add_dir(std::string_view name, std::uint32_t mode) { add_entry(name, S_IFDIR | (mode & 07777), {}); }

void CpioWriter::add_file(std::string_view name, std::string_view data, std::uint32_t mode) {
  add_entry(name, S_IFREG | (mode & 07777), data);
}

void CpioWriter::add_symlink(std::string_view name, std::string_view target) {
  add_entry(name, S_IFLNK | 0777, target);
}

std::string CpioWriter::finish() {
  next_ino_ = 0;
  add_entry("TRAILER!!!", 0, {});
  std::string out = std::move(out_);
  out_.clear();
  next_ino_ = 1;
  return out;
}

std::vector<CpioEntry> read_cpio(std::string_view a) {
  std::vector<CpioEntry> entries;
  std::size_t pos = 0;
  auto align = [](std::size_t p) { return (p + 3) & ~static_cast<std::size_t>(3); };
  while (true) {
    if (a.size() - pos < 110) throw std::runtime_error("cpio: truncated header");
    if (a.substr(pos, 6) != "070701") throw std::runtime_error("cpio: bad magic");
    auto field = [&](int i) { return parse_hex8(a.substr(pos + 6 + 8 * i, 8)); };
    std::uint32_t mode = field(1);
    std::uint32_t filesize = field(6);
    std::uint32_t namesize = field(11);
    std::size_t name_at = pos + 110;
    if (namesize == 0 || a.size() - name_at < namesize) throw std::runtime_error("cpio: truncated name");
    std::string name(a.substr(name_at, namesize - 1));
    std::size_t data_at = align(name_at + namesize);
    if (data_at > a.size() || a.size() - data_at < filesize) throw std::runtime_error("cpio: truncated data");
    if (name == "TRAILER!!!") break;
    entries.push_back(CpioEntry{std::move(name), mode, std::string(a.substr(data_at, filesize))});
    pos = align(data_at + filesize);
  }
  return entries;
}

}  // namespace sbx::guest
