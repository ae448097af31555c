#pragma once
// The names, labels and digest every rendered object of one Sandboxfile shares.
#include <string>

#include <nlohmann/json.hpp>

#include "config/sandboxfile.h"

namespace sbx::render {

/// The portable digest: the canonical desired state (config/canonical.h) without where the
/// project lies on this host (project_dir; mount sources inside the project made relative), so
/// two checkouts of one commit render the same bytes. "sha256:<hex>".
std::string portable_digest(const config::Sandboxfile& file);

/// Labels of every object and of the pod: sandbox name, managed-by, the digest's first 32 hex.
nlohmann::ordered_json labels(const config::Sandboxfile& file);

/// The label selecting this sandbox's pod (for the NetworkPolicy).
nlohmann::ordered_json selector_labels(const config::Sandboxfile& file);

/// metadata {name, labels, annotations {the full digest}}.
nlohmann::ordered_json metadata(const config::Sandboxfile& file, const std::string& name);

/// Names of the objects beside the workload.
std::string egress_config_name(const config::Sandboxfile& file);
std::string secret_name(const config::Sandboxfile& file);

}  // namespace sbx::render
