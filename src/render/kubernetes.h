#pragma once
// `sbx render kubernetes`: a resolved Sandboxfile as Kubernetes manifests.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "config/sandboxfile.h"
#include "render/options.h"

namespace sbx::render {

/// One rendered object and the file name it gets with --out.
struct Manifest {
  std::string file_name;  // "30-sandbox-hello.yaml": the apply order, the kind, the name
  nlohmann::ordered_json object;
};

/// Every object, in apply order: the egress ConfigMap, the NetworkPolicy, the workload
/// (Sandbox, Pod or Job), and with options.admission the ValidatingAdmissionPolicy and its
/// binding. Deterministic: the same file and options give the same objects.
Result<std::vector<Manifest>> render_kubernetes(const config::Sandboxfile& file, const KubernetesOptions& options);

/// The comment that heads the YAML: what it is, and the Secret to create when one is referenced.
std::string header_comment(const config::Sandboxfile& file);

/// All manifests as one YAML stream (`---` between documents), headed by header_comment.
std::string to_yaml_stream(const config::Sandboxfile& file, const std::vector<Manifest>& manifests);

}  // namespace sbx::render
