#include "supervisor/egress_link.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fd.h"
#include "supervisor/fd_passing.h"
#include "vmm/process.h"

namespace sbx::supervisor {

EgressLink::~EgressLink() { stop(200); }

Result<void> EgressLink::start(const std::filesystem::path& dir, const std::filesystem::path& log) {
  char exe[4096];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return fail(ErrorCode::io, "cannot find the sbx binary (/proc/self/exe)");
  exe[len] = 0;
  if (pid_ > 0) stop(0);  // a restart: reap the previous child if mark_dead could not
  auto pair = SBX_TRY(control_pair());
  vmm::SpawnOptions opt;
  opt.output_log = log;
  opt.pass_fds = {pair.second.get()};
  opt.missing_hint = "reinstall sbx";
  auto child = SBX_TRY(vmm::spawn_child({exe, kEgressCommand, dir.string()}, opt));
  pid_ = child.pid;
  pidfd_ = child.pidfd;
  control_ = std::move(pair.first);
  set_nonblocking(control_.get());
  alive_ = true;
  return {};
}

void EgressLink::mark_dead(std::string why) {
  if (!alive_) return;
  alive_ = false;
  control_.reset();
  // Say how it ended when it has (it closes the socket only by exiting).
  int status = 0;
  for (int i = 0; i < 50 && pid_ > 0; ++i) {
    const pid_t r = ::waitpid(static_cast<pid_t>(pid_), &status, WNOHANG);
    if (r == pid_) {
      why += " (" + vmm::exit_from_status(status).describe() + ")";
      pid_ = 0;
      break;
    }
    if (r < 0) break;
    ::usleep(2000);
  }
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
  death_ = why;
}

EgressEvent EgressLink::read_event() {
  if (!control_) return {};
  Packet p;
  switch (receive_with_fd(control_.get(), p)) {
    case IoStatus::again: return {};
    case IoStatus::closed:
    case IoStatus::error:
      mark_dead("the egress proxy process exited");
      return {EgressEvent::died, death_};
    case IoStatus::ok: break;
  }
  const auto word_end = p.message.find(' ');
  const std::string word = p.message.substr(0, word_end);
  const std::string rest = word_end == std::string::npos ? "" : p.message.substr(word_end + 1);
  if (word == "ready") {
    ready_ = true;
    return {EgressEvent::ready, ""};
  }
  if (word == "failed") return {EgressEvent::failed, rest};
  if (word == "reloaded") return {EgressEvent::reloaded, ""};
  if (word == "reload-failed") return {EgressEvent::reload_failed, rest};
  return {};  // unknown words from a newer child are ignored
}

std::string EgressLink::unavailable_reason() const {
  if (!alive_ && !death_.empty()) return "the sandbox's egress proxy is not running: " + death_;
  if (!alive_) return "the sandbox has no egress proxy";
  if (!ready_) return "the sandbox's egress proxy is still starting";
  return "";
}

Result<Fd> EgressLink::open_stream(const EgressRequest& request) {
  if (auto why = unavailable_reason(); !why.empty()) return fail(ErrorCode::runtime, why);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0)
    return fail(ErrorCode::io, std::string("sbx supervisor: socketpair: ") + std::strerror(errno));
  Fd ours(sv[0]), theirs(sv[1]);
  const std::string message = "stream " + request.client.substr(0, 200);
  switch (send_with_fd(control_.get(), message, theirs.get())) {
    case IoStatus::ok: return ours;
    case IoStatus::again:
      return fail(ErrorCode::runtime, "the sandbox's egress proxy is overloaded (its control queue is full)");
    case IoStatus::closed:
    case IoStatus::error:
      mark_dead("the egress proxy process exited");
      return fail(ErrorCode::runtime, unavailable_reason());
  }
  return fail(ErrorCode::runtime, "unreachable");
}

bool EgressLink::request_reload() {
  if (!alive_) return false;
  return send_with_fd(control_.get(), "reload", -1) == IoStatus::ok;
}

void EgressLink::stop(int grace_ms) {
  if (pid_ > 0) {
    ::kill(static_cast<pid_t>(pid_), SIGTERM);
    int status = 0;
    bool reaped = false;
    for (int waited = 0; waited <= grace_ms && !reaped; waited += 5) {
      reaped = ::waitpid(static_cast<pid_t>(pid_), &status, WNOHANG) == pid_;
      if (!reaped) ::usleep(5000);
    }
    if (!reaped) {
      ::kill(static_cast<pid_t>(pid_), SIGKILL);
      ::waitpid(static_cast<pid_t>(pid_), &status, 0);
    }
    pid_ = 0;
  }
  if (alive_) death_ = "stopped";
  alive_ = false;
  control_.reset();
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
}

}  // namespace sbx::supervisor
