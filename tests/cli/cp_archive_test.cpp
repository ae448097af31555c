// The host side of `sbx cp`: extracting hostile tar streams from the guest under a destination
// directory, and packing a host tree without following what is inside it.
#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cli/cp_archive.h"
#include "common/fd.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using sbx::Fd;
using sbx::cli::extract_tar;
using sbx::cli::pack_tar;

namespace {

struct Entry {
  std::string path;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string data;      // file contents
  std::string link;      // symlink target or hard link source
  bool hardlink = false;
  std::int64_t size = -1;  // the header's size when not data.size()
};

// A tar file of `entries` (written by libarchive, as a hostile guest's tar could).
fs::path make_tar(const fs::path& file, const std::vector<Entry>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  REQUIRE(archive_write_open_filename(a, file.c_str()) == ARCHIVE_OK);
  for (const auto& en : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, en.path.c_str());
    archive_entry_set_filetype(e, en.type);
    archive_entry_set_perm(e, en.perm);
    if (en.type == AE_IFLNK) archive_entry_set_symlink(e, en.link.c_str());
    if (en.hardlink) archive_entry_set_hardlink(e, en.link.c_str());
    if (en.type == AE_IFCHR) archive_entry_set_rdev(e, makedev(1, 3));
    archive_entry_set_size(e, en.type == AE_IFREG && !en.hardlink ? (en.size >= 0 ? en.size : static_cast<std::int64_t>(en.data.size())) : 0);
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    if (!en.data.empty()) archive_write_data(a, en.data.data(), en.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return file;
}

struct World {
  sbx::test::TempDir tmp{"sbx-cp-test"};
  fs::path dest = tmp.path() / "dest", outside = tmp.path() / "outside";
  World() {
    fs::create_directories(dest);
    fs::create_directories(outside);
    std::ofstream(outside / "target") << "host file\n";
  }
  sbx::Result<sbx::cli::CopyCount> extract(const std::vector<Entry>& entries, const std::string& as = "d",
                                           sbx::cli::ExtractBudget budget = {}) {
    const fs::path tar = make_tar(tmp.path() / "in.tar", entries);
    Fd in(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
    Fd dir(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return extract_tar(in.get(), dir.get(), "d", as, budget);
  }
  // Nothing but the original file outside dest.
  bool outside_untouched() const {
    int n = 0;
    for (auto it = fs::recursive_directory_iterator(outside); it != fs::recursive_directory_iterator(); ++it) ++n;
    std::ifstream f(outside / "target");
    std::string s;
    std::getline(f, s);
    return n == 1 && s == "host file";
  }
};

mode_t mode_of(const fs::path& p) {
  struct stat st{};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("a guest tree is extracted under the destination with its modes and renamed top", "[cli][cp]") {
  World w;
  auto r = w.extract({{"d", AE_IFDIR, 0750},
                      {"d/run.sh", AE_IFREG, 0755, "#!/bin/sh\n"},
                      {"d/secret", AE_IFREG, 0600, "s"},
                      {"d/sub/deep.txt", AE_IFREG, 0644, "deep"},
                      {"d/rel", AE_IFLNK, 0777, "", "run.sh"}},
                     "copy");
  INFO((r ? "" : r.error().message));
  REQUIRE(r.has_value());
  CHECK(r->files == 3);
  CHECK(r->symlinks == 1);
  CHECK(mode_of(w.dest / "copy") == 0750);
  CHECK(mode_of(w.dest / "copy" / "run.sh") == 0755);
  CHECK(mode_of(w.dest / "copy" / "secret") == 0600);
  CHECK(fs::read_symlink(w.dest / "copy" / "rel") == "run.sh");
  std::ifstream f(w.dest / "copy" / "sub" / "deep.txt");
  std::string s;
  f >> s;
  CHECK(s == "deep");
}

TEST_CASE("a guest entry with '..' or an absolute path is refused and writes nothing outside", "[cli][cp][security]") {
  World w;
  auto dots = w.extract({{"d/../../outside/target", AE_IFREG, 0644, "pwned\n"}});
  REQUIRE_FALSE(dots.has_value());
  CHECK(dots.error().message.find("'..'") != std::string::npos);
  auto abs = w.extract({{(w.outside / "new").string(), AE_IFREG, 0644, "pwned\n"}});
  REQUIRE_FALSE(abs.has_value());
  CHECK(abs.error().message.find("absolute path") != std::string::npos);
  auto other = w.extract({{"etc/passwd", AE_IFREG, 0644, "x"}});
  REQUIRE_FALSE(other.has_value());
  CHECK(other.error().message.find("outside the 'd' that was asked for") != std::string::npos);
  CHECK(w.outside_untouched());
}

TEST_CASE("a guest symlink is never followed: neither a file through it nor one already in the destination", "[cli][cp][security]") {
  World w;
  // The classic: a link out of the tree, then a file "inside" the link.
  auto r = w.extract({{"d", AE_IFDIR, 0755},
                      {"d/link", AE_IFLNK, 0777, "", w.outside.string()},
                      {"d/link/target", AE_IFREG, 0644, "pwned\n"}});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "'d/link/target' would be written through a symlink or a non-directory; refused");
  CHECK(w.outside_untouched());
  // A link the host already has in the destination is replaced, not written through.
  fs::remove_all(w.dest / "d");
  fs::create_directories(w.dest / "d");
  fs::create_symlink(w.outside / "target", w.dest / "d" / "f");
  auto over = w.extract({{"d/f", AE_IFREG, 0644, "new\n"}});
  REQUIRE(over.has_value());
  CHECK_FALSE(fs::is_symlink(w.dest / "d" / "f"));
  CHECK(w.outside_untouched());
  // And the top itself as a host symlink to a directory elsewhere.
  fs::remove_all(w.dest / "d");
  fs::create_directory_symlink(w.outside, w.dest / "d");
  auto top = w.extract({{"d", AE_IFDIR, 0755}, {"d/target", AE_IFREG, 0644, "pwned\n"}});
  REQUIRE(top.has_value());
  CHECK(fs::is_directory(fs::symlink_status(w.dest / "d")));
  CHECK(w.outside_untouched());
}

TEST_CASE("guest hard links, devices and fifos are refused and set-id bits never reach the host", "[cli][cp][security]") {
  World w;
  auto hard = w.extract({{"d/h", AE_IFREG, 0644, "", (w.outside / "target").string(), true}});
  REQUIRE_FALSE(hard.has_value());
  CHECK(hard.error().message.find("hard link") != std::string::npos);
  auto dev = w.extract({{"d/mem", AE_IFCHR, 0666}});
  REQUIRE_FALSE(dev.has_value());
  CHECK(dev.error().message.find("device, fifo or socket") != std::string::npos);
  CHECK_FALSE(fs::exists(w.dest / "d" / "mem"));
  auto fifo = w.extract({{"d/fifo", AE_IFIFO, 0666}});
  REQUIRE_FALSE(fifo.has_value());
  auto suid = w.extract({{"d", AE_IFDIR, 03777}, {"d/sh", AE_IFREG, 06755, "#!/bin/sh\n"}});
  REQUIRE(suid.has_value());
  CHECK(mode_of(w.dest / "d" / "sh") == 0755);
  CHECK(mode_of(w.dest / "d") == 0777);
  CHECK(w.outside_untouched());
}

TEST_CASE("a guest that sends more than the budget is stopped", "[cli][cp][security]") {
  World w;
  std::vector<Entry> many = {{"d", AE_IFDIR, 0755}};
  for (int i = 0; i < 20; ++i) many.push_back({"d/f" + std::to_string(i), AE_IFREG, 0644, "x"});
  auto entries = w.extract(many, "d", {.max_bytes = 1 << 20, .max_entries = 10});
  REQUIRE_FALSE(entries.has_value());
  CHECK(entries.error().message == "the guest sent more than 10 entries; stopped");
  fs::remove_all(w.dest / "d");
  auto bytes = w.extract({{"d/big", AE_IFREG, 0644, std::string(5000, 'x')}}, "d", {.max_bytes = 4096, .max_entries = 10});
  REQUIRE_FALSE(bytes.has_value());
  CHECK(bytes.error().message == "the guest sent more than 4096 bytes; stopped");
  CHECK((!fs::exists(w.dest / "d" / "big") || fs::file_size(w.dest / "d" / "big") <= 4096));
}

TEST_CASE("a host tree is packed with its modes and without following the symlinks inside it", "[cli][cp][security]") {
  sbx::test::TempDir tmp("sbx-cp-pack");
  const fs::path src = tmp.path() / "src", dest = tmp.path() / "dest";
  fs::create_directories(src / "sub");
  fs::create_directories(dest);
  std::ofstream(src / "run.sh") << "#!/bin/sh\n";
  fs::permissions(src / "run.sh", fs::perms(0750));
  std::ofstream(tmp.path() / "host-secret") << "secret\n";
  fs::create_symlink(tmp.path() / "host-secret", src / "sub" / "leak");
  const fs::path tar = tmp.path() / "out.tar";
  {
    Fd out(::open(tar.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    auto r = pack_tar(out.get(), src, "copy");
    REQUIRE(r.has_value());
    CHECK(r->files == 1);
    CHECK(r->symlinks == 1);
  }
  Fd in(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  Fd dir(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto back = extract_tar(in.get(), dir.get(), "copy", "copy");
  REQUIRE(back.has_value());
  CHECK(mode_of(dest / "copy" / "run.sh") == 0750);
  CHECK(fs::is_symlink(dest / "copy" / "sub" / "leak"));
  std::ifstream packed(tar, std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(packed)), std::istreambuf_iterator<char>());
  CHECK(all.find("secret\n") == std::string::npos);
}
