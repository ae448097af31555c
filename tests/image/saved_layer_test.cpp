// `sbx save`'s layers: a hostile guest tar of an overlay's upper directory (or its base root)
// rewritten into a clean layer (whiteouts and opaque directories converted, everything bounded),
// and the saved image built from them.
#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/fd.h"
#include "image/cache.h"
#include "image/saved_image.h"
#include "image/saved_layer.h"
#include "image_fixtures.h"

namespace fs = std::filesystem;
using namespace sbx::image;
using namespace sbx::image::test;
using sbx::Fd;

namespace {

struct GuestEntry {
  std::string path;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string data;
  std::string link;      // symlink target, or hard-link target when hardlink
  bool hardlink = false;
  dev_t rdev = 0;
  std::map<std::string, std::string> xattrs;
};

// A tar as a guest's tar could send it.
void write_guest_tar(const fs::path& file, const std::vector<GuestEntry>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  REQUIRE(archive_write_open_filename(a, file.c_str()) == ARCHIVE_OK);
  for (const auto& en : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, en.path.c_str());
    archive_entry_set_filetype(e, en.type);
    archive_entry_set_perm(e, en.perm);
    archive_entry_set_uid(e, 1000);
    archive_entry_set_gid(e, 1000);
    archive_entry_set_uname(e, "agent");
    if (en.type == AE_IFLNK) archive_entry_set_symlink(e, en.link.c_str());
    if (en.hardlink) archive_entry_set_hardlink(e, en.link.c_str());
    if (en.type == AE_IFCHR || en.type == AE_IFBLK) archive_entry_set_rdev(e, en.rdev);
    for (const auto& [k, v] : en.xattrs) archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    archive_entry_set_size(e, en.type == AE_IFREG && !en.hardlink ? static_cast<la_int64_t>(en.data.size()) : 0);
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    if (!en.data.empty()) archive_write_data(a, en.data.data(), en.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

struct Convert {
  TempDir tmp{"sbx-saved-layer"};
  fs::path in = tmp.path() / "guest.tar", out = tmp.path() / "layer.tar";
  sbx::Result<LayerStats> run(const std::vector<GuestEntry>& entries, GuestTree tree = GuestTree::upper,
                              const std::set<std::string>& opaque = {}, LayerBudget budget = {}) {
    write_guest_tar(in, entries);
    Fd i(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
    std::error_code ec;
    fs::remove(out, ec);
    Fd o(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    return convert_guest_tar(i.get(), o.get(), tree, opaque, budget);
  }
};

}  // namespace

TEST_CASE("overlayfs whiteouts become .wh. files and opaque directories get .wh..wh..opq", "[image][save]") {
  Convert c;
  auto r = c.run({{"./", AE_IFDIR, 0755},
                  {"./etc", AE_IFDIR, 0755},
                  {"./etc/motd", AE_IFCHR, 0, "", "", false, makedev(0, 0)},
                  {"./etc/issue", AE_IFCHR, 0, "", "", false, makedev(0, 0)},
                  {"./etc/hosts.old", AE_IFREG, 0644, "", "./etc/issue", true},  // the kernel links whiteouts
                  {"./opt", AE_IFDIR, 0755},
                  {"./opt/new", AE_IFREG, 0644, "fresh"},
                  {"./usr/bin/tool", AE_IFREG, 04755, "#!/bin/sh\n", "", false, 0, {{"trusted.overlay.origin", "x"}}},
                  {"./usr/bin/tool2", AE_IFREG, 0755, "", "./usr/bin/tool", true},
                  {"./link", AE_IFLNK, 0777, "", "/etc/hosts"}},
                 GuestTree::upper, {"opt"});
  REQUIRE(r.has_value());
  CHECK(r->whiteouts == 3);
  CHECK(r->opaque_dirs == 1);
  CHECK(r->hardlinks == 1);
  const auto layer = read_tar(c.out);
  CHECK(layer.count("etc/.wh.motd") == 1);
  CHECK(layer.count("etc/.wh.issue") == 1);
  CHECK(layer.count("etc/.wh.hosts.old") == 1);
  CHECK(layer.at("etc/.wh.motd").type == AE_IFREG);
  CHECK(layer.count("etc/motd") == 0);
  CHECK(layer.count("opt/.wh..wh..opq") == 1);
  CHECK(layer.at("opt/new").data == "fresh");
  CHECK(layer.at("usr/bin/tool").perm == 04755);  // set-uid acts only inside a guest: kept
  CHECK(layer.at("usr/bin/tool").uid == 1000);
  CHECK_FALSE(layer.at("usr/bin/tool").xattrs);
  CHECK(layer.at("usr/bin/tool").uname.empty());
  CHECK(layer.at("usr/bin/tool2").hardlink == "usr/bin/tool");
  CHECK(layer.at("link").type == AE_IFLNK);
  CHECK(layer.count("") == 0);
  CHECK(layer.count("./") == 0);
}

TEST_CASE("an opaque root and a base tree: the base tree converts no whiteouts", "[image][save]") {
  Convert c;
  auto upper = c.run({{"./", AE_IFDIR, 0755}, {"./x", AE_IFREG, 0644, "x"}}, GuestTree::upper, {""});
  REQUIRE(upper.has_value());
  CHECK(read_tar(c.out).count(".wh..wh..opq") == 1);
  auto base = c.run({{"./dev", AE_IFDIR, 0755},
                     {"./dev/null", AE_IFCHR, 0666, "", "", false, makedev(1, 3)},
                     {"./dev/zero0", AE_IFCHR, 0666, "", "", false, makedev(0, 0)},
                     {"./fifo", AE_IFIFO, 0644}},
                    GuestTree::base, {"dev"});
  REQUIRE(base.has_value());
  CHECK(base->whiteouts == 0);
  CHECK(base->opaque_dirs == 0);
  CHECK(base->skipped.size() == 3);
  const auto layer = read_tar(c.out);
  CHECK(layer.size() == 1);
  CHECK(layer.count("dev") == 1);
}

TEST_CASE("devices other than whiteouts are left out of an upper tree and listed", "[image][save]") {
  Convert c;
  auto r = c.run({{"./dev/sda", AE_IFBLK, 0600, "", "", false, makedev(8, 0)},
                  {"./tty", AE_IFCHR, 0600, "", "", false, makedev(4, 1)}});
  REQUIRE(r.has_value());
  CHECK(r->whiteouts == 0);
  CHECK(r->skipped.size() == 2);
  CHECK(read_tar(c.out).empty());
}

TEST_CASE("hostile guest streams are refused, naming the entry", "[image][save][security]") {
  Convert c;
  struct Case {
    const char* why;
    std::vector<GuestEntry> entries;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"absolute", {{"/etc/passwd", AE_IFREG, 0644, "x"}}, "unsafe path '/etc/passwd'"},
      {"dotdot", {{"./a/../../x", AE_IFREG, 0644, "x"}}, "unsafe path"},
      {"control", {{"./a\nb", AE_IFREG, 0644, "x"}}, "unsafe path"},
      {"long component", {{"./" + std::string(256, 'a'), AE_IFREG, 0644, "x"}}, "unsafe path"},
      {"planted whiteout", {{"./etc/.wh.passwd", AE_IFREG, 0644, ""}}, "named 'etc/.wh.passwd'"},
      {"planted opaque", {{"./etc/.wh..wh..opq", AE_IFREG, 0644, ""}}, ".wh..wh..opq"},
      {"hard link to nothing sent", {{"./x", AE_IFREG, 0644, "", "etc/shadow", true}}, "hard link 'x'"},
      {"hard link outside", {{"./x", AE_IFREG, 0644, "", "../../etc/shadow", true}}, "hard link 'x'"},
      {"twice", {{"./x", AE_IFREG, 0644, "1"}, {"./x", AE_IFCHR, 0, "", "", false, makedev(0, 0)}}, "'x' twice"},
  };
  for (const auto& k : cases) {
    INFO(k.why);
    auto r = c.run(k.entries);
    REQUIRE_FALSE(r.has_value());
    INFO(r.error().message);
    CHECK(r.error().message.find(k.says) != std::string::npos);
  }
}

TEST_CASE("a guest stream over the byte or entry budget is stopped", "[image][save][security]") {
  Convert c;
  LayerBudget small;
  small.max_bytes = 10;
  auto big = c.run({{"./a", AE_IFREG, 0644, "123456"}, {"./b", AE_IFREG, 0644, "123456"}}, GuestTree::upper, {}, small);
  REQUIRE_FALSE(big.has_value());
  CHECK(big.error().message.find("MiB of files") != std::string::npos);
  LayerBudget few;
  few.max_entries = 2;
  auto many = c.run({{"./a", AE_IFDIR}, {"./a/b", AE_IFDIR}, {"./a/c", AE_IFDIR}}, GuestTree::upper, {}, few);
  REQUIRE_FALSE(many.has_value());
  CHECK(many.error().message.find("more than 2 entries") != std::string::npos);
  // A file's data beyond its header's size is never read as more entries: a torn stream fails.
  write_guest_tar(c.in, {{"./a", AE_IFREG, 0644, "abc"}});
  std::string bytes = read_file(c.in);
  bytes.resize(700);  // inside the data block
  write_file(c.in, bytes);
  Fd i(::open(c.in.c_str(), O_RDONLY | O_CLOEXEC));
  Fd o(::open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  CHECK_FALSE(convert_guest_tar(i.get(), o.get(), GuestTree::upper, {}).has_value());
}

TEST_CASE("the guest's opaque list keeps only safe relative paths", "[image][save][security]") {
  const auto s = parse_opaque_list(".\n./etc\n./usr/lib\n/abs\n./a/../../x\n\n./ok/\n");
  CHECK(s == std::set<std::string>{"", "etc", "usr/lib", "ok"});
  CHECK(opaque_list_script().find(std::string(kGuestUpperDir)) != std::string::npos);
  CHECK(opaque_list_script().find(std::string(kGuestLowerDir)) != std::string::npos);
}

TEST_CASE("a saved image is the base layer plus the sandbox's changes, under its name", "[image][save]") {
  TempDir tmp("sbx-saved-image");
  const fs::path cache = tmp.path() / "cache";
  ImportOptions o;
  o.cache_dir = cache;
  Convert c;
  const fs::path base = tmp.path() / "base.tar", upper = tmp.path() / "upper.tar";
  REQUIRE(c.run({{"./etc", AE_IFDIR, 0755},
                 {"./etc/motd", AE_IFREG, 0644, "base motd"},
                 {"./etc/keep", AE_IFREG, 0644, "kept"},
                 {"./opt", AE_IFDIR, 0755},
                 {"./opt/old", AE_IFREG, 0644, "old"}},
                GuestTree::base).has_value());
  fs::copy_file(c.out, base);
  REQUIRE(c.run({{"./etc", AE_IFDIR, 0755},
                 {"./etc/motd", AE_IFCHR, 0, "", "", false, makedev(0, 0)},
                 {"./etc/new", AE_IFREG, 0644, "from the sandbox"},
                 {"./opt", AE_IFDIR, 0755},
                 {"./opt/fresh", AE_IFREG, 0644, "fresh"}},
                GuestTree::upper, {"opt"}).has_value());
  fs::copy_file(c.out, upper);
  ImageConfig config;
  config.env = {"A=1"};
  auto p = publish_saved_image({"tools", base, upper, config, false}, o);
  REQUIRE(p.has_value());
  Ext4 disk(p->root_disk);
  CHECK(disk.cat("/etc/new") == "from the sandbox");
  CHECK(disk.cat("/etc/keep") == "kept");
  CHECK_FALSE(disk.exists("/etc/motd"));
  CHECK_FALSE(disk.exists("/opt/old"));
  CHECK(disk.cat("/opt/fresh") == "fresh");
  CHECK(saved_image_id(cache, "tools") == p->id);
  auto used = prepare_saved_image("saved:tools", o);
  REQUIRE(used.has_value());
  CHECK(used->root_disk == p->root_disk);
  CHECK(used->config.env == config.env);
  // The name is taken: refused without force; with force it moves and the old image loses it.
  auto again = publish_saved_image({"tools", base, base, config, false}, o);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().hint.find("--force") != std::string::npos);
  auto forced = publish_saved_image({"tools", base, base, config, true}, o);
  REQUIRE(forced.has_value());
  CHECK(forced->id != p->id);
  CHECK(saved_image_id(cache, "tools") == forced->id);
  auto listed = list_images(cache, {});
  REQUIRE(listed.has_value());
  int named = 0;
  for (const auto& i : *listed) {
    if (std::find(i.references.begin(), i.references.end(), "saved:tools") != i.references.end()) ++named;
    if (i.id == forced->id) CHECK(i.format == "saved");
  }
  CHECK(named == 1);
  auto missing = prepare_saved_image("saved:nope", o);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().hint.find("sbx save nope") != std::string::npos);
  CHECK_FALSE(publish_saved_image({"Bad/Name", base, upper, config, true}, o).has_value());
}
