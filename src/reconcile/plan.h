#pragma once
// Desired versus recorded state: what `sbx up` has to do for one sandbox.
#include <string>
#include <string_view>

#include "supervisor/state.h"

namespace sbx::reconcile {

/// What the state directory says about a sandbox, and whether its supervisor still lives.
struct Recorded {
  bool exists = false;        // state.json is there
  bool running = false;       // its supervisor process is alive
  supervisor::Phase phase = supervisor::Phase::stopped;
  std::string digest;         // the desired-state digest it was started with
  std::string error;          // why it crashed, if it did
  std::string egress_digest;  // the [egress] its proxy applies now
};

enum class Action { create, recreate, nothing, hot_update };

/// The plan for one sandbox, with the reason in words.
struct Plan {
  Action action = Action::create;
  std::string reason;
};

/// "create", "recreate", "nothing" or "hot-update".
const char* action_name(Action a);

/// Read state.json and check the supervisor's pid.
Recorded read_recorded(const supervisor::SandboxPaths& paths);

/// Pure decision: nothing when a live sandbox runs the same digest, recreate when a live one
/// runs another, create when none runs (never started, stopped, crashed or its supervisor died).
Plan plan(std::string_view desired_digest, const Recorded& recorded);

/// As above, and hot_update when only the [egress] digest differs on a ready sandbox: its
/// egress proxy reloads the rules for new connections, the VM keeps running.
Plan plan(std::string_view desired_digest, std::string_view desired_egress_digest, const Recorded& recorded);

}  // namespace sbx::reconcile
