#include "reconcile/egress_apply.h"

#include <csignal>
#include <thread>
#include <unistd.h>

#include "common/digest.h"
#include "config/canonical.h"
#include "policy/discovery.h"
#include "supervisor/spawn.h"

namespace sbx::reconcile {
using namespace std::chrono;

void set_egress(supervisor::Launch& l, const config::Sandboxfile& file, const supervisor::SandboxPaths& paths,
                const std::vector<proxy::HostPin>& pins) {
  auto& e = l.egress;
  e.enabled = true;
  e.sandboxfile = file.file.string();
  e.project_dir = file.project_dir.string();
  e.snapshot = paths.egress_snapshot().string();
  e.trust_ca = false;
  e.pins.clear();  // kept out of the machine's digest below, like the rules
  e.policies.reset();
  for (const auto& s : file.secrets) e.trust_ca |= s.inject == config::InjectKind::header;
  e.digest.clear();
  l.digest.clear();  // launch_to_json() holds it: the full digest would bring [egress] back in
  nlohmann::json canonical = config::to_json(file);
  const nlohmann::json egress = canonical.contains("egress") ? canonical["egress"] : nlohmann::json();
  canonical.erase("egress");
  l.digest = digest::sha256(canonical.dump() + "\n" + supervisor::launch_to_json(l));
  e.pins = pins;
  // Where this sbx up found the policies: the proxy enforces their ceilings from there, so a
  // different set (another SBX_POLICY_PATH) is an egress change, applied hot like the rules.
  const policy::Sources src = policy::absolute_sources(policy::current_sources());
  supervisor::PolicySourcesLaunch ps{src.system_config.string(), src.user_policies.string(), {}};
  for (const auto& p : src.path) ps.path.push_back(p.string());
  e.policies = ps;
  std::string sources_text = "\npolicies\n" + ps.system_config + "\n" + ps.user_policies;
  for (const auto& p : ps.path) sources_text += "\n" + p;
  // Without pins the digest is what it was before pins existed, but for the policy sources.
  e.digest = digest::sha256("egress\n" + egress.dump() + (pins.empty() ? "" : "\npins\n" + proxy::host_pins_text(pins)) +
                            sources_text);
}

Result<void> write_egress_snapshot(const config::Sandboxfile& file, const supervisor::SandboxPaths& paths) {
  auto text = SBX_TRY(supervisor::read_small_file(file.file));
  return write_file_atomic(paths.egress_snapshot(), text, supervisor::kPrivateFile);
}

Result<void> hot_update_egress(const config::Sandboxfile& file, const supervisor::Launch& desired,
                               const supervisor::SandboxPaths& paths, milliseconds timeout) {
  auto st = SBX_TRY(supervisor::read_state(paths));
  if (!supervisor::supervisor_alive(st.supervisor_pid))
    return fail(ErrorCode::runtime, "the sandbox's supervisor is gone", "run 'sbx up' again to recreate it");
  auto text = SBX_TRY(supervisor::read_small_file(paths.launch()));
  auto running = SBX_TRY(supervisor::launch_from_json(text, paths.launch().string()));
  running.egress = desired.egress;  // the machine is the same by the plan: keep the rest as it runs
  // launch.json first: the proxy's file watcher may load the snapshot before the signal below,
  // and it takes the pins from launch.json, so both must be new by then.
  SBX_TRY_VOID(write_file_atomic(paths.launch(), supervisor::launch_to_json(running), supervisor::kPrivateFile));
  SBX_TRY_VOID(write_egress_snapshot(file, paths));
  // The id tells this request's answer from an earlier one's (sigqueue carries it to the signalfd).
  const int id = static_cast<int>((::getpid() ^ duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count()) & 0x7fffffff) | 1;
  sigval value{};
  value.sival_int = id;
  if (::sigqueue(static_cast<pid_t>(st.supervisor_pid), SIGUSR1, value) != 0)
    return fail(ErrorCode::runtime, "cannot signal the sandbox's supervisor (pid " + std::to_string(st.supervisor_pid) + ")");
  const auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
    auto now = supervisor::read_state(paths);
    if (!now || now->egress_reload_id != id) continue;
    if (!now->egress_reload_error.empty())
      return fail(ErrorCode::runtime, "the sandbox's egress proxy kept its previous rules: " + now->egress_reload_error,
                  "see 'sbx logs' for the details; 'sbx down' then 'sbx up' restarts the sandbox");
    return {};
  }
  return fail(ErrorCode::runtime, "the sandbox's egress proxy did not confirm the new rules within " +
                                      std::to_string(timeout.count() / 1000) + " s",
              "see 'sbx logs'");
}

}  // namespace sbx::reconcile
