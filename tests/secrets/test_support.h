#pragma once
// Shared helpers of the secrets tests: a temp store directory and byte-level file access.
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "support/temp_dir.h"

namespace sbx::secrets::test {

/// A scratch directory (sbx::test::TempDir) that SBX_DATA_DIR points at while it lives, so
/// nothing can touch the user's real store.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return dir_.path(); }
  /// The store directory the library and the CLI use for SBX_DATA_DIR=path().
  std::filesystem::path store() const { return path() / "secrets"; }

 private:
  sbx::test::TempDir dir_{"sbx-secrets-test"};
};

std::string read_bytes(const std::filesystem::path& file);
void write_bytes(const std::filesystem::path& file, std::string_view bytes);
/// Every regular file under `dir` and its content.
std::map<std::string, std::string> snapshot(const std::filesystem::path& dir);
/// Lower-case hex of `bytes`.
std::string hex(std::string_view bytes);

}  // namespace sbx::secrets::test
