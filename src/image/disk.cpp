#include "image/disk.h"

#include <cerrno>
#include <fcntl.h>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "common/errno_text.h"
#include "common/log.h"
#include "common/run_tool.h"
#include "common/text.h"
#include "image/safe_fs.h"

namespace sbx::image {
namespace fs = std::filesystem;

namespace {

constexpr unsigned kFirstUid = 1000;


// Read a small text file beneath root; "" when missing or not a regular file.
std::string read_text(int root_fd, const std::string& rel) {
  Fd fd(open_beneath(root_fd, rel, O_RDONLY));
  struct stat st{};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (16 << 20)) return {};
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  ssize_t n = ::pread(fd.get(), out.data(), out.size(), 0);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

// Replace etc/<name> atomically; a symlink there is replaced, never followed.
Result<void> write_etc(int root_fd, const std::string& name, const std::string& text) {
  Fd etc(mkdirs_beneath(root_fd, "etc"));
  if (!etc) return fail(ErrorCode::invalid, "the image's /etc is not a directory (or is a symlink)");
  const std::string tmp = "." + name + ".sbx";
  ::unlinkat(etc.get(), tmp.c_str(), 0);
  Fd fd(::openat(etc.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return fail(ErrorCode::io, "cannot write /etc/" + name + " into the image: " + errno_text());
  ::fchmod(fd.get(), 0644);
  struct stat st{};
  if (::fstatat(etc.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) remove_at(etc.get(), name);
  if (::renameat(etc.get(), tmp.c_str(), etc.get(), name.c_str()) != 0)
    return fail(ErrorCode::io, "cannot replace /etc/" + name + " in the image: " + errno_text());
  return {};
}

// name -> (id) of a passwd or group file.
std::map<std::string, unsigned> ids_of(const std::string& text, std::size_t id_field) {
  std::map<std::string, unsigned> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string part;
    while (std::getline(ss, part, ':')) f.push_back(part);
    if (f.size() <= id_field || f[0].empty()) continue;
    if (const auto v = text::parse_uint(f[id_field], 0, UINT32_MAX)) out[f[0]] = static_cast<unsigned>(*v);
  }
  return out;
}

unsigned first_free(const std::map<std::string, unsigned>& used, unsigned want) {
  std::set<unsigned> ids;
  for (const auto& [n, id] : used) ids.insert(id);
  while (ids.count(want)) ++want;
  return want;
}

std::string with_newline(std::string s) {
  if (!s.empty() && s.back() != '\n') s += '\n';
  return s;
}

void own(int root_fd, const std::string& rel, unsigned uid, unsigned gid, unsigned mode,
         std::map<std::string, EntryMeta>* meta) {
  if (meta) {
    (*meta)[rel] = EntryMeta{uid, gid, mode};
    return;
  }
  Fd fd(open_beneath(root_fd, rel, O_PATH));
  if (fd) ::fchownat(fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
}

}  // namespace

Result<GuestAdditions> add_guest_files(int root_fd, std::map<std::string, EntryMeta>* meta) {
  GuestAdditions g;
  // Mount points PID 1 uses; it would create them on the overlay, but a read-only boot needs them.
  for (const char* d : {"proc", "sys", "dev", "run", "tmp", "etc", "home", "root"}) {
    Fd fd(mkdirs_beneath(root_fd, d));
    if (!fd) return fail(ErrorCode::invalid, std::string("the image's /") + d + " is not a directory (or is a symlink)");
    if (std::string_view(d) == "tmp") ::fchmod(fd.get(), 01777);
  }
  std::string passwd = read_text(root_fd, "etc/passwd");
  std::string group = read_text(root_fd, "etc/group");
  auto users = ids_of(passwd, 2);
  auto groups = ids_of(group, 2);
  bool changed_passwd = false, changed_group = false;
  if (!users.count("root")) {
    passwd = "root:x:0:0:root:/root:/bin/sh\n" + passwd;
    users["root"] = 0;
    changed_passwd = true;
  }
  if (!groups.count("root")) {
    group = "root:x:0:\n" + group;
    groups["root"] = 0;
    changed_group = true;
  }
  if (auto it = users.find("agent"); it != users.end()) {
    g.agent_uid = it->second;
    g.agent_gid = groups.count("agent") ? groups["agent"] : it->second;
  } else {
    g.agent_uid = first_free(users, kFirstUid);
    g.agent_gid = groups.count("agent") ? groups["agent"] : first_free(groups, g.agent_uid);
    passwd = with_newline(passwd) + "agent:x:" + std::to_string(g.agent_uid) + ":" + std::to_string(g.agent_gid) +
             ":sbx agent:/home/agent:/bin/sh\n";
    g.added_agent = changed_passwd = true;
    Fd home(mkdirs_beneath(root_fd, "home/agent"));
    if (!home) return fail(ErrorCode::invalid, "the image's /home/agent cannot be created (a symlink or a file is in the way)");
    ::fchmod(home.get(), 0755);
    own(root_fd, "home/agent", g.agent_uid, g.agent_gid, S_IFDIR | 0755, meta);
  }
  if (!groups.count("agent")) {
    group = with_newline(group) + "agent:x:" + std::to_string(g.agent_gid) + ":\n";
    changed_group = true;
  }
  if (changed_passwd) {
    SBX_TRY_VOID(write_etc(root_fd, "passwd", passwd));
    own(root_fd, "etc/passwd", 0, 0, S_IFREG | 0644, meta);
  }
  if (changed_group) {
    SBX_TRY_VOID(write_etc(root_fd, "group", group));
    own(root_fd, "etc/group", 0, 0, S_IFREG | 0644, meta);
  }
  return g;
}

Result<void> make_image_disk(const fs::path& dir, const fs::path& image, const std::map<std::string, EntryMeta>* meta) {
  auto mkfs = SBX_TRY(find_tool("mkfs.ext4", "e2fsprogs"));
  // Size: every file rounded to 4 KiB blocks, a block per directory and symlink, inode tables,
  // plus 10% and 32 MiB of slack for ext4's own metadata. A file with several names (hard links,
  // which mkfs -d keeps) is counted once.
  std::uint64_t blocks = 0, inodes = 16;
  std::set<std::pair<dev_t, ino_t>> linked;
  std::vector<std::string> paths;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    ++inodes;
    struct stat st{};
    if (::lstat(it->path().c_str(), &st) != 0) {
      ec = std::error_code(errno, std::generic_category());
      break;
    }
    if (S_ISREG(st.st_mode)) {
      const bool again = st.st_nlink > 1 && !linked.insert({st.st_dev, st.st_ino}).second;
      if (!again) blocks += (static_cast<std::uint64_t>(st.st_size) + 4095) / 4096 + 1;
    } else {
      blocks += 1;
    }
    if (meta) paths.push_back(it->path().lexically_relative(dir).string());  // never through symlinks
  }
  if (ec) return fail(ErrorCode::io, "cannot walk " + dir.string() + ": " + ec.message());
  inodes = inodes + inodes / 4 + 1024;
  const std::uint64_t bytes = blocks * 4096 + blocks * 4096 / 10 + inodes * 256 + (32ull << 20);
  const std::uint64_t mib = (bytes + (1 << 20) - 1) >> 20;
  fs::remove(image, ec);
  auto r = SBX_TRY(run_tool({mkfs, "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", "0", "-N",
                                    std::to_string(inodes), "-O", "^has_journal", "-E", "root_owner=0:0", "-L",
                                    "sbx-root", "-d", dir.string(), image.string(), std::to_string(mib) + "M"}));
  if (r.status != 0) return fail(ErrorCode::runtime, "mkfs.ext4 -d failed: " + r.output.substr(0, 2000), "check e2fsprogs >= 1.43");
  if (!meta) return {};
  // mkfs copied our own uid/gid and the modes we widened; write the layers' owners and modes.
  auto debugfs = SBX_TRY(find_tool("debugfs", "e2fsprogs"));
  fs::path script = image;
  script += ".debugfs";
  {
    std::ofstream out(script, std::ios::trunc);
    for (const auto& p : paths) {
      if (p.find('"') != std::string::npos || p.find('\n') != std::string::npos) {
        sbx::log::get("image")->warn("cannot set the owner of '{}' in the image (quote in its name)", p);
        continue;
      }
      auto it = meta->find(p);
      const EntryMeta m = it != meta->end() ? it->second : EntryMeta{};
      out << "sif \"/" << p << "\" uid " << m.uid << "\nsif \"/" << p << "\" gid " << m.gid << "\n";
      if (it != meta->end()) out << "sif \"/" << p << "\" mode 0" << std::oct << m.mode << std::dec << "\n";
    }
  }
  auto d = SBX_TRY(run_tool({debugfs, "-w", "-f", script.string(), image.string()}));
  fs::remove(script, ec);
  if (d.status != 0) return fail(ErrorCode::runtime, "debugfs could not set owners: " + d.output.substr(0, 2000));
  return {};
}

}  // namespace sbx::image
