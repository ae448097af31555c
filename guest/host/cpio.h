#pragma once
// A cpio "newc" archive writer (the initramfs format), in memory, with fixed timestamps and
// owners so the same inputs always give the same bytes (and the same cache digest).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::guest {

/// Builds a newc archive; entries are written in the order added, parents first.
class CpioWriter {
 public:
  /// A directory (mode without the type bits, e.g. 0755).
  void add_dir(std::string_view name, std::uint32_t mode = 0755);
  /// A regular file with `data` as content.
  void add_file(std::string_view name, std::string_view data, std::uint32_t mode = 0644);
  /// A symbolic link to `target`.
  void add_symlink(std::string_view name, std::string_view target);
  /// Append the TRAILER!!! entry and return the archive; the writer is empty afterwards.
  std::string finish();

 private:
  void add_entry(std::string_view name, std::uint32_t mode, std::string_view data);
  std::string out_;
  std::uint32_t next_ino_ = 1;
};

/// One entry read back from a newc archive.
struct CpioEntry {
  std::string name;
  std::uint32_t mode = 0;
  std::string data;  // file content or symlink target
};

/// Parse a newc archive (for tests and verification); throws std::runtime_error on malformed input.
std::vector<CpioEntry> read_cpio(std::string_view archive);

}  // namespace sbx::guest
