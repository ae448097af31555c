#include "cli/cmd_sandbox_common.h"

#include <csignal>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <thread>

#include "cli/output.h"
#include "common/paths.h"
#include "config/loader.h"
#include "reconcile/lifecycle.h"
#include "supervisor/client.h"
#include "supervisor/spawn.h"

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

guest::protocol::Open default_open(const SandboxTarget& target, const Args& args, guest::protocol::OpenKind kind) {
  guest::protocol::Open open;
  open.kind = kind;
  if (target.file) {
    // User and workdir: the guest's CONFIG defaults (the Sandboxfile's, else the image's).
    open.env = target.file->agent.env;
  }
  if (auto u = args.value("user")) open.user = *u;
  if (auto w = args.value("workdir")) open.cwd = *w;
  return open;
}

int run_in_sandbox(const SandboxTarget& target, const guest::protocol::Open& open) {
  const Output out;  // exec and shell have no --json
  auto client = supervisor::Client::connect(target.paths);
  if (!client) {
    out.error(client.error());
    return supervisor::kSandboxFailedExit;
  }
  auto code = client->run(open);
  if (!code) {
    out.error(code.error());
    return code.error().code == ErrorCode::cannot_start ? 127 : supervisor::kSandboxFailedExit;
  }
  return *code;
}

pid_t spawn_in_sandbox(const SandboxTarget& target, const guest::protocol::Open& open, int in, int out, int close_fd) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  ::dup2(in >= 0 ? in : null, 0);
  ::dup2(out >= 0 ? out : null, 1);
  if (close_fd >= 0) ::close(close_fd);
  ::_exit(run_in_sandbox(target, open));
}

int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Result<Fd> lock_lifecycle(const supervisor::SandboxPaths& paths, std::chrono::seconds timeout, const Output& out) {
  return reconcile::lock_lifecycle(paths, timeout, [&](std::string_view line) { out.note(line); });
}

}  // namespace sbx::cli
