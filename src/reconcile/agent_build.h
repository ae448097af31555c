#pragma once
// The agent image: the dev image plus a layer holding the agent's npm package. The layer is
// built inside a build sandbox booted from the dev image, never on the host (npm packages run
// install scripts). Its egress allows only the npm registry the host's npm is configured with
// (`npm config get registry`, resolved now; the addresses get CIDR rules, since the SSRF
// defence refuses private and documentation ranges otherwise), and it trusts the host's CA
// bundle (TLS-inspecting networks). npm writes into a read-write virtio-fs mount of a host
// staging directory used as its prefix; the host packs that into the layer (image/agent_layer.h).
// Cached by digest of the dev image and the resolved version; a later `sbx up` of the same
// package and version spec installs nothing and uses no network.
#include "common/error.h"
#include "config/sandboxfile.h"
#include "image/image.h"

namespace sbx::reconcile {

/// The dev image with `package` installed (built on first use, then cached).
Result<image::PreparedImage> prepare_agent_image(const config::NpmPackage& package, const image::ImportOptions& options);

}  // namespace sbx::reconcile
