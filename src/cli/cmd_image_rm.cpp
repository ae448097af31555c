// sbx image rm IMAGE...: delete cached images no running sandbox uses.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cmd_image_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/paths.h"

namespace sbx::cli {
namespace {

int run_image_rm(const Args& args) {
  const Output out = Output::for_args(args);
  const bool json = out.json();
  auto images = image_cmd::list();
  if (!images) return out.error(images.error());
  // Resolve every word first: an unknown or ambiguous one removes nothing.
  std::vector<const image::CachedImage*> chosen;
  for (const auto& word : args.positionals) {
    std::vector<const image::CachedImage*> hits;
    for (const auto& i : *images)
      if (image_cmd::matches(i, word)) hits.push_back(&i);
    if (hits.empty())
      return out.error(make_error(ErrorCode::not_found, "no cached image matches '" + word + "'", "see 'sbx image ls'"));
    if (hits.size() > 1)
      return out.error(make_error(ErrorCode::usage, "'" + word + "' matches " + std::to_string(hits.size()) + " images",
                               "give more digits of the image id"));
    if (std::find(chosen.begin(), chosen.end(), hits.front()) == chosen.end()) chosen.push_back(hits.front());
  }
  for (const auto* i : chosen) {
    if (!i->used_by.empty()) {
      std::string users;
      for (const auto& u : i->used_by) users += (users.empty() ? "" : ", ") + u;
      return out.error(make_error(ErrorCode::conflict, "image " + image_cmd::short_id(i->id) + " is used by running sandbox " + users,
                               "stop it first: sbx down --name " + i->used_by.front()));
    }
  }
  nlohmann::json removed = nlohmann::json::array();
  for (const auto* i : chosen) {
    if (auto r = image::remove_image(paths::cache_dir(), *i); !r) return out.error(r.error());
    removed.push_back(i->id);
    out.note("removed image " + image_cmd::short_id(i->id));
  }
  if (json) out.result({{"ok", true}, {"removed", removed}});
  return 0;
}

}  // namespace

const CommandSpec kImageRmCommand{
    .name = "image rm",
    .summary = "Delete cached images",
    .usage = "sbx image rm [--json] IMAGE...",
    .description =
        "Deletes the named images from the cache. IMAGE is an image id as 'sbx image ls' shows\n"
        "it, with or without 'sha256:', or at least its first 4 hex digits, or a reference the\n"
        "image came from (an archive path, a registry reference). An image that a running\n"
        "sandbox boots from is never removed: stop the sandbox first. Nothing is removed when\n"
        "any IMAGE is unknown, ambiguous or in use. The next 'sbx up' that needs a removed image\n"
        "unpacks (or pulls) it again, so 'sbx image rm' is also how to refresh a registry tag.\n"
        "EXIT STATUS\n"
        "0  removed;  1  an image is unknown or in use, or could not be deleted;  2  usage error\n"
        "EXAMPLES\n"
        "sbx image rm sha256:3f2a9c\n"
        "sbx image rm ./images/agent.tar",
    .options = {{"json", 0, "", "Print {\"ok\":true,\"removed\":[ids]} (or the error) on stdout."}},
    .min_positionals = 1,
    .max_positionals = kUnlimited,
    .run = run_image_rm,
};

}  // namespace sbx::cli
