#include "guest/host/rootfs.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/paths.h"
#include "common/run_tool.h"

namespace sbx::guest {
namespace fs = std::filesystem;

namespace {

// Bump when the tree's layout or contents change, so cached images are rebuilt.
constexpr std::string_view kLayoutVersion = "sbx-default-rootfs-1";
constexpr unsigned kImageMiB = 64;

constexpr std::string_view kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "agent:x:1000:1000:sbx agent:/home/agent:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
constexpr std::string_view kGroup = "root:x:0:\nagent:x:1000:\nnogroup:x:65534:\n";
constexpr std::string_view kHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
constexpr std::string_view kProfile =
    "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    "PS1='\\u@\\h:\\w\\$ '\n";
constexpr std::string_view kOsRelease =
    "NAME=\"sbx default\"\nID=sbx\nPRETTY_NAME=\"sbx default image (busybox)\"\n";

Result<void> write_text(const fs::path& p, std::string_view text, fs::perms perms = fs::perms(0644)) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  if (!out) return fail(ErrorCode::io, "cannot write " + p.string());
  out << text;
  out.close();
  std::error_code ec;
  fs::permissions(p, perms, ec);
  return {};
}

}  // namespace

Result<void> make_default_rootfs_tree(const fs::path& dir, const fs::path& busybox) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::io, "cannot create " + dir.string() + ": " + ec.message());
  for (const char* d : {"bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "etc", "proc", "sys", "dev", "run",
                        "tmp", "var/tmp", "root", "home/agent", "mnt", "work"}) {
    fs::create_directories(dir / d, ec);
    if (ec) return fail(ErrorCode::io, "cannot create " + (dir / d).string() + ": " + ec.message());
  }
  fs::permissions(dir / "tmp", fs::perms(01777), ec);
  fs::permissions(dir / "var/tmp", fs::perms(01777), ec);
  fs::permissions(dir / "root", fs::perms(0700), ec);
  fs::copy_file(busybox, dir / "bin/busybox", fs::copy_options::overwrite_existing, ec);
  if (ec) return fail(ErrorCode::io, "cannot copy " + busybox.string() + ": " + ec.message());
  fs::permissions(dir / "bin/busybox", fs::perms(0755), ec);
  auto list = SBX_TRY(run_tool({busybox.string(), "--list-full"}));
  if (list.status != 0)
    return fail(ErrorCode::runtime, busybox.string() + " --list-full failed: " + list.output,
                "install Debian's busybox-static");
  std::istringstream lines(list.output);
  std::string applet;
  std::size_t count = 0;
  while (std::getline(lines, applet)) {
    if (applet.empty() || applet.find("..") != std::string::npos || applet[0] == '/') continue;
    fs::path link = dir / applet;
    if (fs::exists(fs::symlink_status(link, ec))) continue;
    fs::create_directories(link.parent_path(), ec);
    // Relative to / inside the guest: absolute target is fine since the guest chroots into it.
    fs::create_symlink("/bin/busybox", link, ec);
    if (ec) return fail(ErrorCode::io, "cannot create " + link.string() + ": " + ec.message());
    ++count;
  }
  if (count < 50) return fail(ErrorCode::runtime, busybox.string() + " lists too few applets; is it busybox-static?");
  SBX_TRY_VOID(write_text(dir / "etc/passwd", kPasswd));
  SBX_TRY_VOID(write_text(dir / "etc/group", kGroup));
  SBX_TRY_VOID(write_text(dir / "etc/hosts", kHosts));
  SBX_TRY_VOID(write_text(dir / "etc/hostname", "sbx\n"));
  SBX_TRY_VOID(write_text(dir / "etc/profile", kProfile));
  SBX_TRY_VOID(write_text(dir / "etc/os-release", kOsRelease));
  SBX_TRY_VOID(write_text(dir / "etc/shells", "/bin/sh\n/bin/ash\n"));
  return {};
}

Result<void> make_ext4(const fs::path& dir, const fs::path& image, unsigned size_mib,
                       const std::vector<std::string>& agent_owned) {
  auto mkfs = SBX_TRY(find_tool("mkfs.ext4", "e2fsprogs"));
  auto debugfs = SBX_TRY(find_tool("debugfs", "e2fsprogs"));
  std::error_code ec;
  fs::remove(image, ec);
  // No journal: the disk is mounted read-only under a tmpfs overlay.
  auto r = SBX_TRY(run_tool({mkfs, "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-E", "root_owner=0:0", "-L",
                             "sbx-root", "-d", dir.string(), image.string(), std::to_string(size_mib) + "M"}));
  if (r.status != 0) return fail(ErrorCode::runtime, "mkfs.ext4 -d failed: " + r.output, "check e2fsprogs >= 1.43");
  // mkfs copies the builder's uid/gid; set owners inside the image so no root is needed.
  std::string cmds;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string rel = "/" + fs::relative(it->path(), dir, ec).string();
    bool agent = false;
    for (const auto& a : agent_owned) agent = agent || rel == a;
    std::string owner = agent ? std::to_string(kAgentUid) : "0";
    std::string group = agent ? std::to_string(kAgentGid) : "0";
    cmds += "sif \"" + rel + "\" uid " + owner + "\nsif \"" + rel + "\" gid " + group + "\n";
  }
  fs::path cmdfile = image;
  cmdfile += ".debugfs";
  {
    std::ofstream out(cmdfile);
    out << cmds;
  }
  auto d = SBX_TRY(run_tool({debugfs, "-w", "-f", cmdfile.string(), image.string()}));
  fs::remove(cmdfile, ec);
  if (d.status != 0) return fail(ErrorCode::runtime, "debugfs could not set owners: " + d.output);
  return {};
}

Result<fs::path> build_default_rootfs(const fs::path& cache_dir, const Progress& progress) {
  fs::path busybox = "/bin/busybox";
  if (const char* env = std::getenv("SBX_BUSYBOX"); env && *env) busybox = env;
  std::error_code ec;
  if (!fs::is_regular_file(busybox, ec))
    return fail(ErrorCode::not_found, "busybox not found at " + busybox.string(),
                "install Debian's busybox-static (./setup.sh does) or set $SBX_BUSYBOX");
  digest::Sha256 h;
  h.update(kLayoutVersion);
  h.update(SBX_TRY(digest::sha256_file(busybox)));
  std::string digest = h.hex();
  fs::path image = cache_dir / "images" / ("default-" + digest.substr(0, 32) + ".ext4");
  if (fs::is_regular_file(image, ec)) {
    if (progress) progress("root disk: cached " + image.string());
    return image;
  }
  if (progress) progress("root disk: building the default busybox image");
  SBX_TRY_VOID(paths::ensure_private_dir(cache_dir));
  fs::create_directories(image.parent_path(), ec);
  fs::path staging = image.parent_path() / (".staging-" + std::to_string(::getpid()));
  fs::remove_all(staging, ec);
  auto cleanup = [&] { fs::remove_all(staging, ec); };
  if (auto r = make_default_rootfs_tree(staging, busybox); !r) {
    cleanup();
    return std::unexpected(r.error());
  }
  fs::path tmp = image;
  tmp += ".tmp." + std::to_string(::getpid());
  if (auto r = make_ext4(staging, tmp, kImageMiB, {"/home/agent"}); !r) {
    cleanup();
    fs::remove(tmp, ec);
    return std::unexpected(r.error());
  }
  cleanup();
  fs::rename(tmp, image, ec);
  if (ec) return fail(ErrorCode::io, "cannot rename " + tmp.string() + ": " + ec.message());
  if (progress) progress("root disk: wrote " + image.string());
  return image;
}

Result<fs::path> build_default_rootfs(const Progress& progress) {
  return build_default_rootfs(paths::cache_dir(), progress);
}

}  // namespace sbx::guest
