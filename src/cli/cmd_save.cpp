// sbx save IMAGE-NAME [--name N | PATH]: the running sandbox's image plus what it changed, as a
// new local image `[image] ref = "saved:IMAGE-NAME"` (Docker's commit / template save). The
// files come out through the guest: its own tar packs its read-only root and its overlay's upper
// directory; the host never mounts or parses the sandbox's disk, and checks every entry of both
// streams (image/saved_layer.h) before the image builder applies them.
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/paths.h"
#include "config/image_ref.h"
#include "config/units.h"
#include "image/cache.h"
#include "image/saved_image.h"
#include "image/saved_layer.h"
#include "reconcile/sandboxes.h"
#include "supervisor/client.h"

namespace sbx::cli {
namespace {
namespace fs = std::filesystem;

constexpr std::size_t kMaxOpaqueListBytes = 16u << 20;

// A private directory under the image cache, removed when done.
struct ScratchDir {
  fs::path dir;
  explicit ScratchDir(fs::path d) : dir(std::move(d)) {}
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

Result<fs::path> make_scratch() {
  SBX_TRY_VOID(paths::ensure_private_dir(paths::cache_dir()));
  const fs::path images = image::images_dir(paths::cache_dir());
  std::error_code ec;
  fs::create_directories(images, ec);
  // Named like the image builder's staging (.build-<pid>-...): 'sbx image prune' removes it
  // once this process is gone.
  std::string tmpl = (images / (".build-" + std::to_string(::getpid()) + "-save-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    return fail(ErrorCode::io, "cannot create a directory under " + images.string() + ": " + std::strerror(errno));
  return fs::path(tmpl);
}

guest::protocol::Open root_exec(const SandboxTarget& target, const Args& args, std::vector<std::string> argv) {
  auto open = default_open(target, args, guest::protocol::OpenKind::exec);
  open.user = "root";  // the upper directory and the lower root hold every user's files
  open.cwd = "/";
  open.argv = std::move(argv);
  return open;
}

// The guest's list of opaque directories of its upper directory (saved_layer.h's script).
Result<std::set<std::string>> opaque_dirs(const SandboxTarget& target, const Args& args) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail(ErrorCode::io, std::string("pipe: ") + std::strerror(errno));
  const pid_t child = spawn_in_sandbox(target, root_exec(target, args, {"sh", "-c", image::opaque_list_script()}), -1, p[1], p[0]);
  ::close(p[1]);
  Fd from(p[0]);
  std::string text;
  char buf[1 << 16];
  bool too_long = false;
  for (;;) {
    const ssize_t n = ::read(from.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (text.size() + static_cast<std::size_t>(n) > kMaxOpaqueListBytes) {
      too_long = true;
      break;
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  from = Fd();
  if (too_long) ::kill(child, SIGTERM);
  const int status = wait_child(child);
  if (too_long) return fail(ErrorCode::invalid, "the sandbox's list of opaque directories is over 16 MiB; refused");
  if (status != 0)
    return fail(ErrorCode::runtime, "listing the sandbox's changed directories failed (exit status " + std::to_string(status) + ")",
                "the image needs sh and find; see 'sbx logs' for the guest's side");
  return image::parse_opaque_list(text);
}

// One of the guest's trees as a layer file in `dir`.
Result<image::LayerStats> stream_tree(const SandboxTarget& target, const Args& args, std::string_view guest_dir,
                                      image::GuestTree tree, const std::set<std::string>& opaque, const fs::path& file,
                                      const image::LayerBudget& budget) {
  Fd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!out) return fail(ErrorCode::io, "cannot create " + file.string() + ": " + std::strerror(errno));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail(ErrorCode::io, std::string("pipe: ") + std::strerror(errno));
  const pid_t child = spawn_in_sandbox(target, root_exec(target, args, {"tar", "-cf", "-", "-C", std::string(guest_dir), "."}),
                                       -1, p[1], p[0]);
  ::close(p[1]);
  Fd from(p[0]);
  auto r = image::convert_guest_tar(from.get(), out.get(), tree, opaque, budget);
  from = Fd();
  if (!r) ::kill(child, SIGTERM);  // the client forwards it to the guest's tar
  const int status = wait_child(child);
  if (!r) return std::unexpected(r.error());
  // GNU tar exits 1 when a file changed while it was read: the stream is still complete.
  if (status != 0 && status != 1)
    return fail(ErrorCode::runtime, "tar in the sandbox failed on " + std::string(guest_dir) + " (exit status " + std::to_string(status) + ")",
                "the image needs tar (busybox or GNU); see 'sbx logs' for the guest's side");
  if (::fsync(out.get()) != 0) return fail(ErrorCode::io, "cannot write " + file.string() + ": " + std::strerror(errno));
  return r;
}

// The base image's config (env, user, workdir, command), from the cache record of the root disk
// the sandbox booted (launch.json); empty for the built-in image.
image::ImageConfig base_config(const SandboxTarget& target) {
  for (const auto& s : reconcile::list_sandboxes(paths::state_dir())) {
    if (s.name != target.name) continue;
    for (const auto& disk : s.root_disks) {
      const std::string dir = disk.parent_path().filename().string();
      if (!dir.starts_with("sha256-")) continue;
      if (auto hit = image::lookup(paths::cache_dir(), "sha256:" + dir.substr(7))) return hit->config;
    }
  }
  return {};
}

Result<void> require_running(const SandboxTarget& target) {
  auto st = supervisor::read_state(target.paths);
  const std::string fix = "start it with 'sbx up --detach' (in its project directory), then run sbx save again";
  if (!st) return fail(ErrorCode::not_found, "no sandbox '" + target.name + "'", "see 'sbx ls' for the sandboxes that exist");
  const auto seen = supervisor::effective_state(*st);
  if (seen.phase != supervisor::Phase::ready)
    return fail(ErrorCode::conflict,
                "sandbox '" + target.name + "' is " + supervisor::phase_name(seen.phase) +
                    "; sbx save reads its files through its running guest",
                fix);
  return {};
}

int run_save(const Args& args) {
  const Output out = Output::for_args(args);
  const std::string name = args.positionals[0];
  if (!config::valid_saved_name(name))
    return out.error(make_error(ErrorCode::usage, "'" + name.substr(0, 80) + "' is not a valid image name",
                                "use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"));
  if (args.value("name") && args.positionals.size() > 1)
    return out.error(make_error(ErrorCode::usage, "both --name and a PATH given", "name the sandbox one way"));
  image::LayerBudget budget;
  if (auto m = args.value("max-bytes")) {
    auto v = config::parse_size(*m);
    if (!v) return out.error(make_error(ErrorCode::usage, "--max-bytes: " + v.error().message, "write e.g. --max-bytes 8GiB"));
    budget.max_bytes = *v;
  }
  Args where = args;
  where.positionals.erase(where.positionals.begin());
  auto target = resolve_sandbox(where, true);
  if (!target) return out.error(target.error());
  if (auto old = image::saved_image_id(paths::cache_dir(), name); old && !args.flag("force"))
    return out.error(make_error(ErrorCode::invalid, "an image is already saved as '" + name + "' (" + old->substr(0, 19) + ")",
                                "pass --force to replace it, or choose another name"));
  // Not interleaved with an up, down or restart of the sandbox (they wait for the save).
  auto lock = lock_lifecycle(target->paths, std::chrono::seconds(60), out);
  if (!lock) return out.error(lock.error());
  if (auto r = require_running(*target); !r) return out.error(r.error());
  if (auto c = supervisor::Client::connect(target->paths); !c) return out.error(c.error());
  ::signal(SIGPIPE, SIG_IGN);
  auto scratch_path = make_scratch();
  if (!scratch_path) return out.error(scratch_path.error());
  const ScratchDir scratch(*scratch_path);

  out.progress("finding the directories sandbox '" + target->name + "' replaced");
  auto opaque = opaque_dirs(*target, args);
  if (!opaque) return out.error(opaque.error());
  out.progress("reading the sandbox's base root (" + std::string(image::kGuestLowerDir) + ")");
  const fs::path base_file = scratch.dir / "base.tar", upper_file = scratch.dir / "upper.tar";
  auto base = stream_tree(*target, args, image::kGuestLowerDir, image::GuestTree::base, {}, base_file, budget);
  if (!base) return out.error(base.error());
  out.progress("reading what the sandbox changed (" + std::string(image::kGuestUpperDir) + ")");
  auto upper = stream_tree(*target, args, image::kGuestUpperDir, image::GuestTree::upper, *opaque, upper_file, budget);
  if (!upper) return out.error(upper.error());
  for (const auto& s : upper->skipped) out.warn("left out " + s);

  image::ImportOptions io;
  io.progress = out.progress_lines();
  io.meter = out.meter();
  image::SaveRequest req{name, base_file, upper_file, base_config(*target), args.flag("force")};
  auto saved = image::publish_saved_image(req, io);
  if (!saved) return out.error(saved.error());
  struct stat st{};
  const std::uint64_t layer_bytes = ::stat(upper_file.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  if (out.json()) {
    out.result({{"ok", true},
                {"name", name},
                {"reference", image::saved_reference(name)},
                {"id", saved->id},
                {"sandbox", target->name},
                {"layer_bytes", layer_bytes},
                {"entries", upper->entries},
                {"files", upper->files},
                {"whiteouts", upper->whiteouts},
                {"opaque_dirs", upper->opaque_dirs},
                {"base_entries", base->entries},
                {"skipped", upper->skipped}});
  } else {
    out.note("saved sandbox '" + target->name + "' as " + image::saved_reference(name) + " (" + saved->id.substr(0, 19) + "): " +
                 std::to_string(upper->entries) + " changed entries, " + std::to_string(upper->whiteouts) + " deletions, " +
                 std::to_string(layer_bytes >> 10) + " KiB layer",
             "use it with [image] ref = \"" + image::saved_reference(name) + "\"");
  }
  return 0;
}

}  // namespace

const CommandSpec kSaveCommand{
    .name = "save",
    .summary = "Save a running sandbox's files as a new local image",
    .usage = "sbx save [OPTIONS] IMAGE-NAME [PATH]",
    .description =
        "Makes a new local image from the running sandbox of the Sandboxfile at PATH (default: the\n"
        "current directory) or --name: the image the sandbox booted from plus everything it changed\n"
        "on its root file system (its overlay's upper layer, which lives on the sandbox disk). Use\n"
        "it in a Sandboxfile as\n"
        "\n"
        "    [image]\n"
        "    ref = \"saved:IMAGE-NAME\"\n"
        "\n"
        "like Docker's commit. The image's config (env, user, working directory, command) is the base\n"
        "image's. What [[mount]]s show (/workspace, local mounts) and the in-memory /tmp, /dev, /proc\n"
        "and /run are not part of the root file system and are not saved.\n"
        "\n"
        "The sandbox must be running: its files are read through its guest, whose own tar (busybox or\n"
        "GNU, run as root) packs its read-only base root and its upper directory, and a small sh\n"
        "script lists the directories the sandbox replaced wholesale. A stopped sandbox is refused\n"
        "with the fix (sbx up --detach). The host never mounts or parses the sandbox's disk. The\n"
        "streams are hostile input, checked entry by entry: absolute paths, '..', control\n"
        "characters, names starting with .wh., hard links to entries not sent before, and more than\n"
        "--max-bytes of file contents (default 4GiB) or 200000 entries per stream stop the save.\n"
        "Devices and fifos are left out (listed). Owners (numbers), modes (set-uid and set-gid\n"
        "included: they act only inside a guest), symlinks, hard links and mtimes are kept;\n"
        "extended attributes (file capabilities included) and ACLs are not. Deleted files\n"
        "(overlayfs whiteouts) and replaced directories (opaque directories) become OCI whiteouts,\n"
        "and the image is built from both layers with the defences of any image layer (see 'sbx\n"
        "image ls'). Files written while the save runs may or may not be in it.\n"
        "\n"
        "IMAGE-NAME is 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit. A\n"
        "name already saved is refused unless --force; the image it named then loses the name and\n"
        "'sbx image prune' removes it once no sandbox uses it (a named saved image is kept by prune\n"
        "unless --all). Saved images are listed by 'sbx image ls' (format saved) and removed by 'sbx\n"
        "image rm saved:IMAGE-NAME'; one a running sandbox uses is never removed. Progress goes to\n"
        "stderr.\n"
        "\n"
        "EXIT STATUS\n"
        "    0 saved; 1 refused or failed (the reason and the fix are printed); 2 usage error.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx save with-deps\n"
        "    sbx save --name web web-tools --force\n"
        "    sbx save --json nightly ../project\n",
    .options = {{"name", 'n', "NAME", "The sandbox to save (default: the one of the Sandboxfile at PATH or ./Sandboxfile)."},
                {"force", 'f', "", "Replace an image already saved as IMAGE-NAME."},
                {"max-bytes", 0, "SIZE", "Stop when a stream holds more than SIZE of file contents (default 4GiB)."},
                {"json", 0, "",
                 "Print {\"ok\":true,\"name\",\"reference\",\"id\",\"sandbox\",\"layer_bytes\",\"entries\",\"files\","
                 "\"whiteouts\",\"opaque_dirs\",\"base_entries\",\"skipped\":[...]} on stdout."}},
    .min_positionals = 1,
    .max_positionals = 2,
    .run = run_save,
};

}  // namespace sbx::cli
