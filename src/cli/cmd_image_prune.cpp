// sbx image prune: delete every cached image no running sandbox uses, and stale build leftovers.
#include <algorithm>
#include <csignal>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cmd_image_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/paths.h"
#include "image/progress.h"

namespace sbx::cli {
namespace {
namespace fs = std::filesystem;

// .build-<pid>-<n> directories whose builder is gone (an interrupted import).
std::vector<fs::path> stale_builds() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(image::images_dir(paths::cache_dir()), ec)) {
    const std::string n = e.path().filename().string();
    if (!n.starts_with(".build-")) continue;
    const long pid = std::strtol(n.c_str() + 7, nullptr, 10);
    if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) out.push_back(e.path());
  }
  return out;
}

int run_image_prune(const Args& args) {
  const Output out = Output::for_args(args);
  const bool json = out.json();
  const bool all = args.flag("all");
  const bool dry = args.flag("dry-run");
  auto images = image_cmd::list();
  if (!images) return out.error(images.error());
  nlohmann::json removed = nlohmann::json::array(), kept = nlohmann::json::array();
  std::uint64_t freed = 0;
  for (const auto& i : *images) {
    // A saved image that still has its name is the user's work (nothing rebuilds it): kept
    // unless --all, like the built-in image; one whose name moved on (save --force) goes.
    const bool named_save = i.format == "saved" && std::any_of(i.references.begin(), i.references.end(),
                                                                [](const std::string& r) { return r.starts_with("saved:"); });
    if (!i.used_by.empty() || ((i.format == "builtin" || named_save) && !all)) {
      kept.push_back(i.id);
      continue;
    }
    if (!dry)
      if (auto r = image::remove_image(paths::cache_dir(), i); !r) return out.error(r.error());
    removed.push_back(i.id);
    freed += i.disk_bytes;
    out.note((dry ? "would remove " : "removed ") + image_cmd::short_id(i.id));
  }
  for (const auto& p : stale_builds()) {
    std::error_code ec;
    if (!dry) fs::remove_all(p, ec);
  }
  if (json) {
    out.result({{"ok", true}, {"removed", removed}, {"kept", kept}, {"freed_bytes", freed}, {"dry_run", dry}});
  } else {
    out.note((dry ? "would free " : "freed ") + image::human_bytes(freed) + ", kept " + std::to_string(kept.size()) +
             " image(s)");
  }
  return 0;
}

}  // namespace

const CommandSpec kImagePruneCommand{
    .name = "image prune",
    .summary = "Delete every cached image no running sandbox uses",
    .usage = "sbx image prune [--all] [--dry-run] [--json]",
    .description =
        "Deletes each cached image that no running sandbox boots from, and what interrupted\n"
        "imports left behind. The built-in busybox image is kept unless --all is given (it is\n"
        "small and rebuilt in about a second anyway), and so is every image 'sbx save' made that\n"
        "still has its name (saved:NAME; nothing could make it again); an image a later 'sbx save\n"
        "--force' took the name from is pruned. Stopped sandboxes do not hold their image:\n"
        "their next 'sbx up' unpacks or pulls it again.\n"
        "EXIT STATUS\n"
        "0  pruned (also when nothing was to prune);  1  an image could not be deleted;  2  usage error\n"
        "EXAMPLES\n"
        "sbx image prune --dry-run\n"
        "sbx image prune --all --json",
    .options = {{"all", 0, "", "Remove the built-in image and named saved images too (when unused)."},
                {"dry-run", 'n', "", "Only say what would be removed."},
                {"json", 0, "", "Print {\"ok\":true,\"removed\":[ids],\"kept\":[ids],\"freed_bytes\":N,\"dry_run\":bool} on stdout."}},
    .min_positionals = 0,
    .max_positionals = 0,
    .run = run_image_prune,
};

}  // namespace sbx::cli
