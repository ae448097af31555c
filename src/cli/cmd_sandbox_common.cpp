#include "cli/cmd_sandbox_common.h"


#include "config/loader.h"

namespace sbx::cli {

Result<SandboxTarget> resolve_sandbox(const Args& args, bool path_positional) {
  if (auto name = args.value("name")) {
    if (name->empty() || name->find('/') != std::string::npos || name->starts_with("."))
      return fail(ErrorCode::usage, "invalid sandbox name '" + *name + "'", "see 'sbx status' for the names");
    return SandboxTarget{*name, supervisor::sandbox_paths(*name), std::nullopt};
  }
  const std::string where = path_positional && !args.positionals.empty() ? args.positionals.front() : ".";
  auto file = config::load_file(where);
  if (!file) {
    Error e = file.error();
    if (e.code == ErrorCode::not_found && e.hint.empty())
      e.hint = "run this in a directory with a Sandboxfile, or name the sandbox with --name";
    return std::unexpected(e);
  }
  SandboxTarget t{file->name, supervisor::sandbox_paths(file->name), std::move(*file)};
  return t;
}

}  // namespace sbx::cli
