#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "common/atomic_file.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace {
using sbx::test::TempDir;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}
}  // namespace

TEST_CASE("write_file_atomic creates a file with the content and mode asked for", "[common][atomic]") {
  TempDir d;
  const fs::path f = d.path() / "state.json";
  REQUIRE(sbx::write_file_atomic(f, "{\"a\":1}\n", {.mode = 0600}).has_value());
  CHECK(read(f) == "{\"a\":1}\n");
  struct stat st {};
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(names_in(d.path()) == std::vector<std::string>{"state.json"});
}

TEST_CASE("write_file_atomic replaces an existing file and leaves no temporary file", "[common][atomic]") {
  TempDir d;
  const fs::path f = d.path() / "image.json";
  REQUIRE(sbx::write_file_atomic(f, "old").has_value());
  REQUIRE(sbx::write_file_atomic(f, std::string(100000, 'x'), {.sync_dir = true}).has_value());
  CHECK(read(f) == std::string(100000, 'x'));
  REQUIRE(sbx::write_file_atomic(f, "").has_value());
  CHECK(read(f).empty());
  CHECK(names_in(d.path()) == std::vector<std::string>{"image.json"});
}

TEST_CASE("a write that fails half way keeps the old file and removes the temporary one", "[common][atomic]") {
  TempDir d;
  const fs::path f = d.path() / "launch.json";
  REQUIRE(sbx::write_file_atomic(f, "old content").has_value());
  // A child with a 4 KiB file-size limit: writing 64 KiB fails with EFBIG after a partial write.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit lim{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    auto r = sbx::write_file_atomic(f, std::string(65536, 'n'));
    if (r) ::_exit(1);
    const auto& m = r.error().message;
    const bool named = m.find(f.string()) != std::string::npos && m.find("File too large") != std::string::npos;
    ::_exit(named && r.error().code == sbx::ErrorCode::io ? 0 : 2);
  }
  int st = 0;
  REQUIRE(::waitpid(pid, &st, 0) == pid);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);  // 1: the write succeeded; 2: the error lacks the path or the errno text
  CHECK(read(f) == "old content");
  CHECK(names_in(d.path()) == std::vector<std::string>{"launch.json"});
}

TEST_CASE("a rename that fails leaves the target as it was and no temporary file", "[common][atomic]") {
  TempDir d;
  const fs::path target = d.path() / "busy";
  fs::create_directories(target / "inside");
  auto r = sbx::write_file_atomic(target, "bytes");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == sbx::ErrorCode::io);
  CHECK(r.error().message.find(target.string()) != std::string::npos);
  CHECK(r.error().message.find("Is a directory") != std::string::npos);
  CHECK(fs::is_directory(target / "inside"));
  CHECK(names_in(d.path()) == std::vector<std::string>{"busy"});
}

TEST_CASE("write_file_atomic into a missing directory names the path and the reason", "[common][atomic]") {
  TempDir d;
  const fs::path f = d.path() / "absent" / "file";
  auto r = sbx::write_file_atomic(f, "x");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find(f.string()) != std::string::npos);
  CHECK(r.error().message.find("No such file or directory") != std::string::npos);
  CHECK_FALSE(fs::exists(d.path() / "absent"));
}

TEST_CASE("a temporary file that is not committed is removed", "[common][atomic]") {
  TempDir d;
  fs::path where;
  {
    auto t = sbx::TempFile::create(d.path(), ".partial-");
    REQUIRE(t.has_value());
    where = t->path();
    CHECK(where.parent_path() == d.path());
    CHECK(where.filename().string().starts_with(".partial-"));
    REQUIRE(t->write("half").has_value());
    CHECK(fs::exists(where));
    auto moved = std::move(*t);  // ownership moves with it: only one removal
    CHECK(moved.path() == where);
  }
  CHECK_FALSE(fs::exists(where));
  CHECK(names_in(d.path()).empty());
}

TEST_CASE("two temporary files in one directory never share a name", "[common][atomic]") {
  TempDir d;
  auto a = sbx::TempFile::create(d.path(), "x.tmp.");
  auto b = sbx::TempFile::create(d.path(), "x.tmp.");
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->path() != b->path());
  REQUIRE(a->commit(d.path() / "x").has_value());
  CHECK(a->fd() == -1);
  CHECK(names_in(d.path()).size() == 2);  // x and b's temporary file
}
