// sbx init [--agent NAME] [--force] [DIR]: write a commented starter Sandboxfile.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/atomic_file.h"
#include "common/text.h"
#include "config/loader.h"
#include "config/names.h"
#include "config/preset.h"
#include "config/starter.h"

namespace sbx::cli {

namespace {

namespace fs = std::filesystem;

Result<void> write_file(const fs::path& file, const std::string& text, bool force) {
  // Without --force the rename refuses a target that appeared meanwhile (RENAME_NOREPLACE).
  auto written = write_file_atomic(file, text, {.mode = 0644, .replace = force});
  if (!written && written.error().code == ErrorCode::conflict)
    return fail(ErrorCode::conflict, file.string() + " already exists", "pass --force to overwrite it");
  if (!written) return fail(ErrorCode::io, written.error().message, "check the directory's permissions");
  return {};
}

int run_init(const Args& args) {
  const Output out = Output::for_args(args);
  const std::string agent = args.value("agent").value_or("shell");
  const config::Preset* preset = config::find_preset(agent);
  if (!preset) {
    const auto names = config::preset_names();
    std::string all;
    for (auto n : names) all += (all.empty() ? "" : ", ") + std::string(n);
    const std::string guess = text::closest(agent, std::span<const std::string_view>(names));
    return out.error(make_error(ErrorCode::usage, "unknown agent '" + agent + "'",
                             guess.empty() ? "the agents are: " + all : "did you mean '" + guess + "'?"));
  }
  const fs::path dir = args.positionals.empty() ? fs::path(".") : fs::path(args.positionals.front());
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return out.error(make_error(ErrorCode::io, "cannot create " + dir.string() + ": " + ec.message()));
  const fs::path abs = fs::absolute(dir, ec).lexically_normal();
  const fs::path project = abs.filename().empty() ? abs.parent_path() : abs;
  const fs::path file = project / "Sandboxfile";
  const bool force = args.flag("force");
  if (!force && fs::exists(file, ec))
    return out.error(make_error(ErrorCode::conflict, file.string() + " already exists", "pass --force to overwrite it"));
  const std::string text = config::starter_sandboxfile(*preset, config::sanitise_name(project.filename().string()));
  // The starter must load; if it does not, that is a bug here, not the user's problem.
  if (auto check = config::load_string(text, file.string(), project); !check) {
    std::cerr << check.error().render();
    return out.error(make_error(ErrorCode::runtime, "internal error: the starter Sandboxfile does not validate", "this is a bug in sbx; please report it"));
  }
  if (auto w = write_file(file, text, force); !w) return out.error(w.error());
  std::cout << "wrote " << file.string() << " (agent " << agent << ")\n";
  if (preset->secret) std::cout << "next: sbx secret set " << preset->secret->name << "   (once per machine), then sbx up\n";
  else std::cout << "next: edit it, then run 'sbx validate' and 'sbx plan'\n";
  return 0;
}

}  // namespace

const CommandSpec kInitCommand{
    .name = "init",
    .summary = "Write a commented starter Sandboxfile",
    .usage = "sbx init [OPTIONS] [DIR]",
    .description =
        "Writes DIR/Sandboxfile (DIR defaults to the current directory and is created if missing):\n"
        "a short, commented starting point for the chosen agent that 'sbx validate' accepts as is.\n"
        "The sandbox name is DIR's name, lower-cased, with other characters turned into '-'.\n"
        "\n"
        "Agents (one preset file each, shipped with sbx; sandboxfile-spec/SPEC.md, \"Presets\"):\n"
        "    shell        /bin/sh in the built-in image, project mounted read-only, no egress\n"
        "    claude-code  Claude Code (@anthropic-ai/claude-code); api.anthropic.com, x-api-key\n"
        "    codex        Codex CLI (@openai/codex); api.openai.com, Authorization: Bearer\n"
        "    gemini       Gemini CLI (@google/gemini-cli); generativelanguage.googleapis.com, x-goog-api-key\n"
        "    opencode     opencode (opencode-ai); api.anthropic.com, x-api-key\n"
        "    copilot      GitHub Copilot CLI (@github/copilot); api.github.com, Authorization: Bearer\n"
        "An agent's file mounts the project read-write, allows its provider's API and binds its key\n"
        "as a header the proxy adds; with no [image], sbx builds its Debian dev image and installs\n"
        "the agent's npm package into a layer inside a build VM on the first 'sbx up'.\n"
        "\n"
        "An existing Sandboxfile is never overwritten unless --force is given.\n"
        "\n"
        "EXIT STATUS\n"
        "    0  written\n"
        "    1  a Sandboxfile already exists (without --force), or it could not be written\n"
        "    2  usage error (e.g. an unknown agent)\n"
        "\n"
        "EXAMPLES\n"
        "    sbx init\n"
        "    sbx init --agent claude-code ~/src/myproject\n",
    .options = {{.long_name = "agent", .short_name = 'a', .value_name = "NAME",
                 .help = "Starter for this agent: shell (default), claude-code, codex, gemini, opencode or copilot."},
                {.long_name = "force", .short_name = 'f', .help = "Overwrite an existing Sandboxfile."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_init,
};

}  // namespace sbx::cli
