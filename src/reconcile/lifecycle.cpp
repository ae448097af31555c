#include "reconcile/lifecycle.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "common/paths.h"
#include "supervisor/client.h"
#include "supervisor/spawn.h"

namespace sbx::reconcile {

Result<Fd> lock_lifecycle(const supervisor::SandboxPaths& paths, std::chrono::seconds timeout, const Say& say) {
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
    if (!said && say) say("waiting for another sbx up or down of this sandbox to finish...");
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
    // Recorded first: whatever happens to the supervisor from here on, the user stopped it.
    SBX_TRY_VOID(supervisor::write_stop_request(paths, st->supervisor_pid));
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
  return was;
}

}  // namespace sbx::reconcile
