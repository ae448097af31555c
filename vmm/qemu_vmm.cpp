#include "vmm/qemu_vmm.h"

#include <csignal>
#include <fstream>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "common/escape.h"
#include "common/log.h"
#include "vmm/process.h"
#include "vmm/virtiofsd.h"

namespace sbx::vmm {
using namespace std::chrono;

std::string tail_file(const std::filesystem::path& file, size_t max_lines) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff start = std::max<std::streamoff>(0, size - 65536);
  in.seekg(start);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t lines = 0;
  size_t pos = data.size();
  if (pos > 0 && data[pos - 1] == '\n') --pos;
  while (pos > 0) {
    if (data[pos - 1] == '\n' && ++lines == max_lines) break;
    --pos;
  }
  // The bytes as they are, less the serial line's \r: the console is guest-controlled, so every
  // caller escapes what it shows (text::escape_lines_for_terminal) instead of this losing it.
  std::string out;
  out.reserve(data.size() - pos);
  for (char c : std::string_view(data).substr(pos))
    if (c != '\r') out += c;
  return out;
}

std::unique_ptr<QemuVmm> make_qemu_vmm(std::string* warning) {
  const AccelChoice choice = host_accel();
  if (warning) *warning = choice.warning;
  QemuOptions o;
  o.accel = choice.accel;
  o.host_khz = host_cpu_khz();
  return std::make_unique<QemuVmm>(o);
}

std::unique_ptr<Vmm> make_vmm(std::string* warning) { return make_qemu_vmm(warning); }

void QemuVmm::stop_helpers() {
  std::error_code ec;
  for (const Helper& helper : helpers_) {
    // sbx made the virtiofsd sockets (virtiofsd got them as --fd), so sbx removes them.
    std::filesystem::remove(helper.socket, ec);
    const pid_t h = helper.pid;
    if (h <= 0) continue;  // already reaped
    ::kill(h, SIGTERM);
    for (int i = 0; i < 100 && ::waitpid(h, nullptr, WNOHANG) == 0; ++i) ::usleep(10000);
    if (::waitpid(h, nullptr, WNOHANG) == 0) {
      ::kill(h, SIGKILL);
      ::waitpid(h, nullptr, 0);
    }
  }
  helpers_.clear();
}

QemuVmm::~QemuVmm() {
  if (pid_ > 0 && !exit_) kill();
  stop_helpers();
  if (pidfd_ >= 0) ::close(pidfd_);
}

Result<void> QemuVmm::start(const MachineSpec& spec) {
  if (pid_ > 0) return fail(ErrorCode::conflict, "this VMM already runs a machine");
  runtime_dir_ = spec.runtime_dir;
  std::error_code ec;
  std::filesystem::remove(runtime_dir_ / options_.qmp_socket, ec);
  const HostUser user = invoking_user();
  for (size_t i = 0; i < spec.shares.size(); ++i) {
    if (spec.shares[i].source.empty()) continue;
    auto child = start_virtiofsd(spec.shares[i], user, runtime_dir_ / ("virtiofsd-" + std::to_string(i) + ".log"));
    if (!child) {
      stop_helpers();
      return std::unexpected(child.error());
    }
    if (child->pidfd >= 0) ::close(child->pidfd);
    helpers_.push_back({child->pid, spec.shares[i].source, spec.shares[i].socket,
                        runtime_dir_ / ("virtiofsd-" + std::to_string(i) + ".log")});
  }
  const auto argv = qemu_argv(spec, options_);
  sbx::log::get("vmm")->debug("starting {} ({} args, accel {})", argv[0], argv.size(), accel_name(options_.accel));
  auto spawned = spawn_child(argv, runtime_dir_, qemu_log());
  if (!spawned) {
    stop_helpers();
    return std::unexpected(spawned.error());
  }
  const Child child = *spawned;
  pid_ = child.pid;
  pidfd_ = child.pidfd;
  auto qmp = QmpClient::connect(runtime_dir_ / options_.qmp_socket, seconds(10));
  if (!qmp) {
    auto ended = try_reap();
    const bool exited = ended && ended->has_value();
    std::string why = exited ? "QEMU " + (*ended)->describe() : qmp.error().message;
    // A virtiofsd that died during its own setup makes QEMU fail to connect: say why it died.
    for (Helper& h : helpers_)
      if (h.pid > 0 && ::waitpid(h.pid, nullptr, WNOHANG) == h.pid) {
        why += "\nvirtiofsd for " + h.source.string() + " exited:\n" + text::escape_lines_for_terminal(tail_file(h.log, 5), "  | ");
        h.pid = -1;
      }
    if (!exited) kill();
    return fail(ErrorCode::runtime, "the VMM did not start: " + why + "\n" + text::escape_lines_for_terminal(tail_file(qemu_log(), 10), "  | "),
                "see " + qemu_log().string());
  }
  qmp_.emplace(std::move(*qmp));
  return {};
}

Result<void> QemuVmm::request_poweroff() {
  if (!qmp_) return fail(ErrorCode::runtime, "the VMM is not running");
  return qmp_->system_powerdown();
}

Result<std::optional<Exit>> QemuVmm::try_reap() {
  if (exit_) return exit_;
  if (pid_ <= 0) return fail(ErrorCode::runtime, "no VMM process");
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_ = exit_from_status(status);
    qmp_.reset();
    stop_helpers();
    return exit_;
  }
  return std::nullopt;  // still running
}

Result<Exit> QemuVmm::wait(milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    auto e = try_reap();
    if (!e) return std::unexpected(e.error());  // no VMM process
    if (*e) return **e;
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) return fail(ErrorCode::runtime, "the VMM did not stop in time");
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 1000)));
    } else {
      std::this_thread::sleep_for(std::min(left, milliseconds(10)));
    }
  }
}

void QemuVmm::kill() {
  if (pid_ <= 0 || exit_) return;
  if (qmp_) (void)qmp_->execute("quit", milliseconds(500));
  if (wait(milliseconds(500))) return;
  ::kill(pid_, SIGKILL);
  (void)wait(seconds(5));
}

Result<std::string> QemuVmm::status() {
  if (exit_) return std::string("exited");
  if (!qmp_) return fail(ErrorCode::runtime, "the VMM is not running");
  return qmp_->query_status();
}

}  // namespace sbx::vmm
