#pragma once
// The agent's numeric uid (and gid) on a cluster: the redirect matches packets by uid, and
// Kubernetes' runAsUser takes numbers only.
#include <optional>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::render {

struct AgentIds {
  long uid = 0;
  std::optional<long> gid;
};

/// "agent" -> 1000 (the user sbx creates); "UID" or "UID:GID" as written. Refused: root (the
/// agent must not share the redirect's or any privileged identity), the sidecar's uid, and
/// other names (their uid is in the image, unknown here).
Result<AgentIds> agent_ids(const config::Agent& agent);

}  // namespace sbx::render
