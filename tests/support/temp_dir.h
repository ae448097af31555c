#pragma once
// A private scratch directory for one test.
#include <filesystem>
#include <string_view>

namespace sbx::test {

/// A fresh directory (mode 0700) under $TMPDIR named `<prefix>-XXXXXX`, removed with everything
/// in it on destruction, even directories a test made read-only.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "sbx-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace sbx::test
