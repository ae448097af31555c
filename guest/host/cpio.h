#pragma once
// The initramfs format, cpio "newc", written and read by libarchive, in memory. Timestamps, owners,
// devices and inode numbers are fixed so the same inputs always give the same bytes (and the
// same cache digest).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

struct archive;

namespace sbx::guest {

/// Builds a newc archive; entries are written in the order added, parents first.
class CpioWriter {
 public:
  CpioWriter();
  ~CpioWriter();
  CpioWriter(const CpioWriter&) = delete;
  CpioWriter& operator=(const CpioWriter&) = delete;

  /// A directory (mode without the type bits, e.g. 0755).
  void add_dir(std::string_view name, std::uint32_t mode = 0755);
  /// A regular file with `data` as content.
  void add_file(std::string_view name, std::string_view data, std::uint32_t mode = 0644);
  /// A symbolic link to `target`.
  void add_symlink(std::string_view name, std::string_view target);
  /// Append the TRAILER!!! entry and return the archive, or the first error libarchive reported.
  /// Call once: the writer is spent afterwards.
  Result<std::string> finish();

 private:
  void add_entry(std::string_view name, std::uint32_t mode, std::string_view data, std::string_view link);
  void note_error(std::string_view what);

  struct archive* a_ = nullptr;
  std::string out_;
  std::string error_;
  std::uint32_t next_ino_ = 1;
};

/// One entry read back from a newc archive.
struct CpioEntry {
  std::string name;
  std::uint32_t mode = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string data;  // file content or symlink target
};

/// Parse a newc archive (for tests and verification); fails on any other format, a truncated
/// archive, or one without its trailer.
Result<std::vector<CpioEntry>> read_cpio(std::string_view archive);

}  // namespace sbx::guest
