#include "cli/cmd_sandbox_common.h"

#include <csignal>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <thread>

#include "cli/output.h"
#include "common/paths.h"
#include "config/loader.h"
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

Result<Fd> lock_lifecycle(const supervisor::SandboxPaths& paths, std::chrono::seconds timeout, const Output& out) {
  SBX_TRY_VOID(paths::ensure_private_dir(paths.dir));
  const auto file = paths.dir / "lifecycle.lock";
  Fd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return fail(ErrorCode::io, "cannot open " + file.string() + ": " + std::strerror(errno));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool said = false;
  for (;;) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      // 'sbx rm' may have removed the directory while this waited: a lock on a removed file
      // guards nothing, so start again on the file that is there now.
      struct stat held{}, now{};
      if (::fstat(fd.get(), &held) == 0 && ::stat(file.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
          held.st_dev == now.st_dev)
        break;
      SBX_TRY_VOID(paths::ensure_private_dir(paths.dir));
      fd = Fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (!fd) return fail(ErrorCode::io, "cannot open " + file.string() + ": " + std::strerror(errno));
      continue;
    }
    if (errno != EWOULDBLOCK && errno != EINTR)
      return fail(ErrorCode::io, "cannot lock " + file.string() + ": " + std::strerror(errno));
    if (std::chrono::steady_clock::now() > deadline)
      return fail(ErrorCode::conflict,
                  "another sbx up or down of sandbox '" + paths.dir.filename().string() + "' is still running",
                  "wait for it to finish (see 'sbx status'), then try again");
    if (!said) out.note("waiting for another sbx up or down of this sandbox to finish...");
    said = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return fd;
}

Result<std::string> stop_locked(const supervisor::SandboxPaths& paths) {
  using namespace std::chrono;
  auto st = supervisor::read_state(paths);
  if (!st) return fail(ErrorCode::not_found, "no sandbox '" + paths.dir.filename().string() + "'",
                       "see 'sbx status' for the sandboxes that exist");
  // One classification with 'sbx status': a sandbox whose supervisor died crashed.
  const supervisor::SandboxState seen = supervisor::effective_state(*st);
  const std::string was = supervisor::phase_name(seen.phase);
  if (supervisor::supervisor_alive(st->supervisor_pid)) {
    auto client = supervisor::Client::connect(paths);
    if (client) {
      SBX_TRY_VOID(client->stop(seconds(30)));
    }
    // Bounded wait for the supervisor to be gone; it removes its sockets itself.
    const auto deadline = steady_clock::now() + seconds(5);
    // Wait until it has fully exited (its cmdline empties before it is gone).
    while (!supervisor::process_gone(st->supervisor_pid) && steady_clock::now() < deadline) ::usleep(10000);
    if (supervisor::supervisor_alive(st->supervisor_pid)) {
      ::kill(static_cast<pid_t>(st->supervisor_pid), SIGKILL);  // its VMM dies with it (pdeathsig)
    }
  }
  supervisor::remove_sockets(paths);
  if (auto now = supervisor::read_state(paths); now && (now->phase == supervisor::Phase::ready ||
                                                         now->phase == supervisor::Phase::starting ||
                                                         now->phase == supervisor::Phase::stopping)) {
    // A crash stays a crash (status keeps saying why); a stop we asked for is a stop.
    if (seen.phase == supervisor::Phase::crashed) {
      now->phase = supervisor::Phase::crashed;
      now->error = seen.error;
    } else {
      now->phase = supervisor::Phase::stopped;
    }
    now->vmm_pid = 0;
    SBX_TRY_VOID(supervisor::write_state(paths, *now));
  }
  return was;
}

}  // namespace sbx::cli
