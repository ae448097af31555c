#include "reconcile/apply_up.h"

#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/escape.h"
#include "common/paths.h"
#include "reconcile/egress_apply.h"
#include "reconcile/host_resources.h"
#include "reconcile/port_check.h"
#include "supervisor/client.h"
#include "supervisor/egress_child.h"
#include "supervisor/spawn.h"
#include "vmm/accel.h"
#include "vmm/nofile_limit.h"

namespace sbx::reconcile {
namespace {
using namespace std::chrono;
namespace fs = std::filesystem;

void say(const Say& s, std::string_view line) {
  if (s) s(line);
}

// Stop a running sandbox (recreate), as the user asked for by running up.
Result<void> stop_sandbox(const supervisor::SandboxPaths& paths) {
  auto st = supervisor::read_state(paths);
  if (st && supervisor::supervisor_alive(st->supervisor_pid)) SBX_TRY_VOID(supervisor::write_stop_request(paths, st->supervisor_pid));
  auto client = SBX_TRY(supervisor::Client::connect(paths));
  return client.stop(seconds(30));
}

// Remove what a dead supervisor left behind, keep the logs.
void clear_runtime_files(const supervisor::SandboxPaths& p) {
  std::error_code ec;
  supervisor::remove_sockets(p);
  supervisor::clear_stop_request(p);
  fs::remove(p.launch(), ec);
}

Result<void> start_sandbox(const config::Sandboxfile& file, const Artifacts& artifacts, const supervisor::SandboxPaths& paths,
                           const std::vector<proxy::HostPin>& pins, int timeout_s) {
  SBX_TRY_VOID(paths::ensure_private_dir(paths.dir));
  clear_runtime_files(paths);
  std::error_code ec;
  fs::remove(paths.console_log(), ec);  // one boot per console log; status shows the current one
  supervisor::Launch launch = make_launch(file, artifacts, paths, pins);
  launch.boot_timeout_ms = timeout_s * 1000;
  SBX_TRY_VOID(write_egress_snapshot(file, paths));  // what the egress proxy loads
  SBX_TRY_VOID(write_file_atomic(paths.launch(), supervisor::launch_to_json(launch), supervisor::kPrivateFile));
  const pid_t pid = SBX_TRY(supervisor::spawn_supervisor(paths.dir));
  // The supervisor creates its control socket first thing; wait for it (or its early death).
  const auto deadline = steady_clock::now() + seconds(10);
  for (;;) {
    auto client = supervisor::Client::connect(paths);
    if (client) return client->wait_ready(milliseconds(timeout_s * 1000 + 5000));
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      auto st = supervisor::read_state(paths);
      return fail(ErrorCode::runtime,
                  "the sandbox supervisor exited at once" +
                      (st && !st->error.empty() ? ": " + text::escape_for_terminal(st->error) : std::string()),
                  "see " + paths.supervisor_log().string());
    }
    if (steady_clock::now() > deadline)
      return fail(ErrorCode::runtime, "the sandbox supervisor did not open its control socket",
                  "see " + paths.supervisor_log().string());
    ::usleep(2000);
  }
}

// A running sandbox whose egress proxy is down (dead, restarting, failed) is repaired: the
// supervisor restarts it now and answers once it is ready. Then the supervisor confirms the
// sandbox is ready and recorded (a full state directory fails here, with the fix).
Result<bool> repair_running(const config::Sandboxfile& file, const supervisor::Launch& desired,
                            const supervisor::SandboxPaths& paths, const UpHooks& hooks) {
  bool repaired = false;
  auto client = SBX_TRY(supervisor::Client::connect(paths));
  auto st = supervisor::read_state(paths);
  if (desired.egress.enabled && st && st->egress_state != "running" && st->egress_state != "starting") {
    say(hooks.note, "sandbox '" + file.name + "': repair: its egress proxy is " +
                        (st->egress_state.empty() ? "not running" : st->egress_state) + "; restarting it");
    SBX_TRY_VOID(client.restart_egress(seconds(30)));
    repaired = true;
  }
  SBX_TRY_VOID(client.wait_ready(seconds(30)));
  return repaired;
}

// The previous VMM of this sandbox must have let go of the disk before it changes or another
// VMM opens it (a stop returns once the supervisor is gone; its QEMU dies with it).
Result<void> wait_vmm_gone(const supervisor::SandboxPaths& paths) {
  auto st = supervisor::read_state(paths);
  if (!st || st->vmm_pid <= 0) return {};
  const auto deadline = steady_clock::now() + seconds(10);
  while (!supervisor::process_gone(st->vmm_pid)) {
    // QEMU runs in the state directory; another process with the id was reused: not ours.
    std::error_code ec;
    const auto cwd = fs::read_symlink("/proc/" + std::to_string(st->vmm_pid) + "/cwd", ec);
    if (!ec && !fs::equivalent(cwd, paths.dir, ec)) return {};
    if (steady_clock::now() > deadline)
      return fail(ErrorCode::conflict, "the sandbox's previous VMM (pid " + std::to_string(st->vmm_pid) + ") still runs",
                  "run 'sbx down' (or kill that process), then 'sbx up' again");
    ::usleep(10000);
  }
  return {};
}

// Carry the disk plan out (the sandbox is stopped).
Result<void> prepare_disk(const DiskPlan& plan, const config::Sandboxfile& file, const Artifacts& artifacts,
                          const supervisor::SandboxPaths& paths, const UpHooks& hooks) {
  SBX_TRY_VOID(wait_vmm_gone(paths));
  DiskRecord desired;
  desired.lower = disk_lower(artifacts);
  desired.image = file.image.reference;
  desired.size_bytes = file.resources.disk_bytes;
  auto warnings = SBX_TRY(apply_disk(plan, paths, desired));
  for (const auto& w : warnings) say(hooks.warn, w);
  return {};
}

}  // namespace

Result<UpOutcome> apply_up(const UpRequest& request, const UpHooks& hooks) {
  const config::Sandboxfile& file = *request.file;
  const auto& paths = request.paths;
  UpOutcome o;
  // More CPUs or memory than this host has fail before anything is built (a policy may lower
  // these ceilings later).
  const HostFacts host = SBX_TRY(read_host_facts());
  const ResourceFit fit = check_resources(file.resources, host, host_ceilings(host));
  SBX_TRY_VOID(refuse_unless_fits(fit, file.name, file.file.string()));
  o.warnings = fit.warnings;
  // virtiofsd holds one descriptor per guest-known inode: a low hard limit is EMFILE in the guest.
  if (!file.mounts.empty())
    if (auto w = vmm::nofile_warning(vmm::virtiofsd_nofile())) o.warnings.push_back(*w);
  for (const auto& w : o.warnings) say(hooks.warn, w);
  // Held until the sandbox is ready: a second lifecycle job of this sandbox waits for this one.
  Fd lifecycle = SBX_TRY(lock_lifecycle(paths, seconds(request.timeout_s + 60), hooks.note));
  // The agent may have rewritten the Sandboxfile: no new grant without the user's yes.
  if (hooks.approve) SBX_TRY_VOID(hooks.approve());

  o.artifacts = SBX_TRY(prepare_artifacts(file, hooks.progress, hooks.meter));
  o.desired = make_launch(file, o.artifacts, paths, request.pins);
  o.plan = plan(o.desired.digest, o.desired.egress.digest, read_recorded(paths));
  if (request.fresh && (o.plan.action == Action::nothing || o.plan.action == Action::hot_update))
    o.plan = {Action::recreate, "--fresh: start over from the image"};
  say(hooks.note, "sandbox '" + file.name + "': " + action_name(o.plan.action) + " (" + text::escape_for_terminal(o.plan.reason) +
                      ")");  // may quote a crash
  if (!request.pins.empty())
    say(hooks.note, "sandbox '" + file.name + "': egress pins from " + proxy::kHostPinsEnv + ": " +
                        proxy::host_pins_text(request.pins) + " (these names skip DNS; their addresses are still checked)");

  const bool boots = o.plan.action == Action::create || o.plan.action == Action::recreate;
  // Before a hot update: a dead proxy cannot reload.
  if (!boots) o.repaired = SBX_TRY(repair_running(file, o.desired, paths, hooks));
  if (o.plan.action == Action::hot_update) {
    SBX_TRY_VOID(hot_update_egress(file, o.desired, paths, seconds(15)));
    say(hooks.note, "sandbox '" + file.name + "': egress rules reloaded without a reboot; new connections use them");
  }
  if (boots) {
    // Forwarded host ports another program holds fail now, before anything stops or boots.
    SBX_TRY_VOID(check_ports_free(file, paths));
    // The disk before anything stops: a reset asks first.
    o.disk = SBX_TRY(hooks.decide_disk(o.artifacts));
    // Secrets are read in the background (header: the egress proxy; env: the supervisor):
    // check now, before booting.
    SBX_TRY_VOID(supervisor::check_bound_secrets(file));
    if (o.plan.action == Action::recreate) SBX_TRY_VOID(stop_sandbox(paths));
    const auto accel = vmm::host_accel();
    if (!accel.warning.empty()) say(hooks.warn, accel.warning);
    say(hooks.progress, "booting sandbox '" + file.name + "' (" + std::to_string(file.resources.cpus) + " vCPU, kernel " +
                            o.artifacts.kernel_version + ")...");
    SBX_TRY_VOID(prepare_disk(*o.disk, file, o.artifacts, paths, hooks));
    SBX_TRY_VOID(start_sandbox(file, o.artifacts, paths, request.pins, request.timeout_s));
  }
  return o;  // the lock goes with `lifecycle`
}

}  // namespace sbx::reconcile
