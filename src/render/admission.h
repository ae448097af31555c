#pragma once
// --admission: a ValidatingAdmissionPolicy (CEL) and its binding that make the API server
// refuse a sandbox pod which lost an invariant the cluster can check: the runtime class, no
// hostPath, the sbx proxy sidecar and the redirect present, no Secret in any other container.
#include <vector>

#include <nlohmann/json.hpp>

#include "config/sandboxfile.h"
#include "render/options.h"

namespace sbx::render {

/// The policy and its binding (for pods labelled sbx.dev/sandbox).
std::vector<nlohmann::ordered_json> admission_policy(const config::Sandboxfile& file, const KubernetesOptions& options);

}  // namespace sbx::render
