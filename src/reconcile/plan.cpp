#include "reconcile/plan.h"

#include "supervisor/spawn.h"

namespace sbx::reconcile {
using supervisor::Phase;

const char* action_name(Action a) {
  switch (a) {
    case Action::create: return "create";
    case Action::recreate: return "recreate";
    case Action::nothing: return "nothing";
    case Action::hot_update: return "hot-update";
  }
  return "?";
}

Recorded read_recorded(const supervisor::SandboxPaths& paths) {
  Recorded r;
  auto st = supervisor::read_state(paths);
  if (!st) return r;
  r.exists = true;
  r.phase = st->phase;
  r.digest = st->digest;
  r.error = st->error;
  r.running = supervisor::supervisor_alive(st->supervisor_pid);
  r.egress_digest = st->egress_digest;
  return r;
}

Plan plan(std::string_view desired_digest, const Recorded& r) {
  if (!r.exists) return {Action::create, "no sandbox of this name exists"};
  if (!r.running) {
    if (r.phase == Phase::crashed) return {Action::create, "the previous run crashed (" + r.error + ")"};
    if (r.phase == Phase::stopped) return {Action::create, "the sandbox is stopped"};
    return {Action::create, "the sandbox's supervisor is gone"};
  }
  if (r.phase == Phase::stopping) return {Action::recreate, "the sandbox is stopping"};
  if (r.digest != desired_digest) return {Action::recreate, "the Sandboxfile or the guest image changed"};
  return {Action::nothing, "the sandbox already runs this Sandboxfile"};
}

}  // namespace sbx::reconcile

namespace sbx::reconcile {

Plan plan(std::string_view desired_digest, std::string_view desired_egress_digest, const Recorded& r) {
  Plan p = plan(desired_digest, r);
  if (p.action == Action::nothing && r.phase == Phase::ready && !desired_egress_digest.empty() &&
      r.egress_digest != desired_egress_digest)
    return {Action::hot_update, "only [egress] changed: the sandbox's proxy reloads it for new connections, no reboot"};
  return p;
}

}  // namespace sbx::reconcile
