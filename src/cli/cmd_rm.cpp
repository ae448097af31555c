// sbx rm [--force] [NAME|PATH]... | --all: delete sandboxes, their disks and their state.
#include <filesystem>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/paths.h"
#include "config/loader.h"
#include "reconcile/apply_down.h"
#include "reconcile/host_resources.h"
#include "reconcile/sandboxes.h"
#include "supervisor/spawn.h"

namespace sbx::cli {
namespace {
using namespace std::chrono;
namespace fs = std::filesystem;

// A word is a path when it looks like one (a '/', "." or ".."), a name when a sandbox has it,
// else a path when something is there.
Result<supervisor::SandboxPaths> resolve_word(const std::string& word) {
  const bool path_like = word.find('/') != std::string::npos || word == "." || word == "..";
  if (!path_like && !word.starts_with(".")) {
    auto p = supervisor::sandbox_paths(word);
    std::error_code ec;
    if (fs::is_directory(p.dir, ec)) return p;
    if (!fs::exists(word, ec))
      return fail(ErrorCode::not_found, "no sandbox '" + word + "'", "see 'sbx ls' for the sandboxes that exist");
  }
  auto file = config::load_file(word);
  if (!file) return std::unexpected(file.error());
  auto p = supervisor::sandbox_paths(file->name);
  std::error_code ec;
  if (!fs::is_directory(p.dir, ec))
    return fail(ErrorCode::not_found, "the Sandboxfile at " + word + " has no sandbox ('" + file->name + "')",
                "see 'sbx ls' for the sandboxes that exist");
  return p;
}

int run_rm(const Args& args) {
  const Output out = Output::for_args(args);
  const bool json = out.json();
  const bool force = args.flag("force");
  std::vector<supervisor::SandboxPaths> targets;
  if (args.flag("all")) {
    if (!args.positionals.empty())
      return out.error(make_error(ErrorCode::usage, "--all removes every sandbox: give no names with it"));
    for (const auto& s : reconcile::list_sandboxes(paths::state_dir())) targets.push_back(s.paths);
    reconcile::remove_leftovers(paths::state_dir());
  } else if (args.positionals.empty()) {
    auto p = resolve_word(".");
    if (!p) return out.error(p.error());
    targets.push_back(*p);
  } else {
    // Every word resolves before anything is removed: a typo removes nothing.
    for (const auto& word : args.positionals) {
      auto p = resolve_word(word);
      if (!p) return out.error(p.error());
      bool seen = false;
      for (const auto& t : targets) seen = seen || t.dir == p->dir;
      if (!seen) targets.push_back(*p);
    }
  }
  nlohmann::json results = nlohmann::json::array();
  int rc = 0;
  for (const auto& p : targets) {
    const std::string name = p.dir.filename().string();
    auto r = reconcile::apply_rm(p, force, [&](std::string_view line) { out.note(line); });
    if (!r) {
      rc = 1;
      if (json) results.push_back({{"name", name}, {"ok", false}, {"error", error_json(r.error())["error"]}});
      else out.error(r.error());
      continue;
    }
    if (json) results.push_back({{"name", name}, {"ok", true}, {"was", r->was}, {"freed_bytes", r->freed}});
    else out.note("removed sandbox '" + name + "'" + (r->was == "running" ? " (stopped it first)" : "") + ", its disk (" +
                  reconcile::approx_size(r->freed) + ") and its state");
  }
  if (json) out.result({{"ok", rc == 0}, {"sandboxes", results}});
  return rc;
}

}  // namespace

const CommandSpec kRmCommand{
    .name = "rm",
    .summary = "Delete sandboxes with their disks and state",
    .usage = "sbx rm [OPTIONS] [NAME|PATH]... | --all",
    .description =
        "Deletes each named sandbox: its disk (everything the guest wrote outside its mounts:\n"
        "installed packages, caches, home directories), its state directory and its logs. Files\n"
        "on mounts are the host's and are never touched. Without arguments it removes the sandbox\n"
        "of the Sandboxfile in the current directory. A word with a '/' (or '.' or '..') is the\n"
        "path of a Sandboxfile or its directory; any other word is a sandbox name ('sbx ls'\n"
        "lists them), or a path when no sandbox has that name. Every word is resolved before\n"
        "anything is removed, so a typo removes nothing.\n"
        "\n"
        "A running sandbox is refused unless --force, which powers it off first as 'sbx down' does.\n"
        "An 'sbx up' or 'sbx down' of the same sandbox that is still running finishes first.\n"
        "The next 'sbx up' of a removed sandbox starts from its image with a new, empty disk.\n"
        "\n"
        "EXIT STATUS\n"
        "    0 every sandbox named was removed; 1 one was not (running without --force, no such\n"
        "    sandbox, or the files could not be removed); 2 usage error.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx rm                    # the sandbox of ./Sandboxfile\n"
        "    sbx rm hello ../other     # by name and by path\n"
        "    sbx rm --force --all      # everything, running or not\n"
        "    sbx rm --json hello | jq .sandboxes[0].freed_bytes\n",
    .options = {{"force", 'f', "", "Stop a running sandbox first instead of refusing it."},
                {"all", 'a', "", "Remove every sandbox on this machine (under the state directory)."},
                {"json", 0, "", "Print {\"ok\":...,\"sandboxes\":[{name, ok, was, freed_bytes} or {name, ok, error}]} on stdout."}},
    .min_positionals = 0,
    .max_positionals = kUnlimited,
    .run = run_rm,
};

}  // namespace sbx::cli
