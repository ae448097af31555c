#pragma once
// The pod a Sandboxfile becomes: the agent container, the sbx proxy as a native sidecar, the
// init container that redirects the agent's TCP to it, the repository and mount volumes.
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "config/sandboxfile.h"
#include "render/options.h"

namespace sbx::render {

/// Ports and ids the pod's containers agree on.
inline constexpr int kProxyPort = 3128;         // HTTP(S)_PROXY of the agent
inline constexpr int kTransparentPort = 15001;  // where the redirect sends every other TCP connection
inline constexpr int kProxyUid = 1337;          // the sidecar's uid: never redirected
inline constexpr int kDefaultAgentUid = 1000;   // sbx's "agent" user

/// The PodSpec, or an error naming what cannot map to a cluster (a local image, a host path
/// with no claim, an env secret, a root or named-only agent user) and the fix.
Result<nlohmann::ordered_json> pod_spec(const config::Sandboxfile& file, const KubernetesOptions& options);

/// The agent's image as a registry reference (with @digest when pinned), or the error that
/// names the command to push a local one.
Result<std::string> agent_image(const config::Sandboxfile& file, const KubernetesOptions& options);

}  // namespace sbx::render
