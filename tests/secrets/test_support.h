#pragma once
// Shared helpers of the secrets tests: private temp directories and byte-level file access.
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace sbx::secrets::test {

/// A fresh directory under $TMPDIR (mode 0700), removed with everything in it on destruction;
/// also points SBX_DATA_DIR at it so nothing can touch the user's real store.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  /// The store directory the library and the CLI use for SBX_DATA_DIR=path().
  std::filesystem::path store() const { return path_ / "secrets"; }

 private:
  std::filesystem::path path_;
};

std::string read_bytes(const std::filesystem::path& file);
void write_bytes(const std::filesystem::path& file, std::string_view bytes);
/// Every regular file under `dir` and its content.
std::map<std::string, std::string> snapshot(const std::filesystem::path& dir);
/// Lower-case hex of `bytes`.
std::string hex(std::string_view bytes);

}  // namespace sbx::secrets::test
