// sbx image ls: the images cached on this host, their size and which running sandbox uses them.
#include <cstdio>
#include <ctime>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cmd_image_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "image/progress.h"

namespace sbx::cli {
namespace {

std::string age(std::int64_t unix_time) {
  if (unix_time <= 0) return "-";
  const std::int64_t s = static_cast<std::int64_t>(std::time(nullptr)) - unix_time;
  if (s < 120) return "just now";
  if (s < 7200) return std::to_string(s / 60) + " minutes ago";
  if (s < 172800) return std::to_string(s / 3600) + " hours ago";
  return std::to_string(s / 86400) + " days ago";
}

int run_image_ls(const Args& args) {
  const Output out = Output::for_args(args);
  const bool json = out.json();
  auto images = image_cmd::list();
  if (!images) return out.error(images.error());
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& i : *images) list.push_back(image_cmd::to_json(i));
    out.result({{"ok", true}, {"images", list}});
    return 0;
  }
  if (images->empty()) {
    out.note("no cached images");
    return 0;
  }
  std::printf("%-21s  %-11s  %9s  %-15s  %-12s  %s\n", "IMAGE ID", "FORMAT", "SIZE", "CREATED", "USED BY", "REFERENCE");
  for (const auto& i : *images) {
    std::string users;
    for (const auto& u : i.used_by) users += (users.empty() ? "" : ",") + u;
    std::printf("%-21s  %-11s  %9s  %-15s  %-12s  %s\n", image_cmd::short_id(i.id).c_str(), i.format.c_str(),
                image::human_bytes(i.disk_bytes).c_str(), age(i.created_unix).c_str(), users.empty() ? "-" : users.c_str(),
                i.references.empty() ? "-" : i.references.front().c_str());
    for (std::size_t r = 1; r < i.references.size(); ++r)
      std::printf("%-21s  %-11s  %9s  %-15s  %-12s  %s\n", "", "", "", "", "", i.references[r].c_str());
  }
  return 0;
}

}  // namespace

const CommandSpec kImageLsCommand{
    .name = "image ls",
    .summary = "List the root-disk images cached on this host",
    .usage = "sbx image ls [--json]",
    .description =
        "Lists every image sbx has unpacked into a root disk: OCI layouts and docker save\n"
        "archives, registry pulls, rootfs directories and the built-in busybox image. Each is\n"
        "kept once, named by its digest (the manifest digest of an OCI image, the config digest\n"
        "of a docker save archive, a digest of a rootfs directory's metadata), and shared\n"
        "read-only by every sandbox that uses it; each sandbox writes to its own overlay.\n"
        "USED BY names the running sandboxes whose root disk it is: 'sbx image rm' and\n"
        "'sbx image prune' leave those alone.\n"
        "FILES\n"
        "$SBX_CACHE_DIR/images (default ~/.cache/sbx/images): sha256-<hex>/rootfs.ext4 and\n"
        "image.json per image; refs/ remembers which archive or reference gave which image.\n"
        "EXIT STATUS\n"
        "0  listed;  1  the cache could not be read;  2  usage error\n"
        "EXAMPLES\n"
        "sbx image ls\n"
        "sbx image ls --json | jq '.images[] | {id, disk_bytes}'",
    .options = {{"json", 0, "", "Print {\"ok\":true,\"images\":[{id, format, references, root_disk, disk_bytes, created_unix, last_used_unix, used_by}]} on stdout."}},
    .min_positionals = 0,
    .max_positionals = 0,
    .run = run_image_ls,
};

}  // namespace sbx::cli
