#include "temp_dir.h"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <sys/stat.h>

namespace sbx::test {
namespace fs = std::filesystem;

TempDir::TempDir(std::string_view prefix) {
  std::string tmpl = (fs::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Give every directory back its owner permissions first (before the walk enters it), so a
  // tree a test made read-only or unsearchable can still be deleted.
  ::chmod(path_.c_str(), 0700);
  for (fs::recursive_directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISDIR(st.st_mode)) ::chmod(it->path().c_str(), st.st_mode | S_IRWXU);
  }
  fs::remove_all(path_, ec);
}

}  // namespace sbx::test
