#pragma once
// What `sbx render kubernetes` was asked for, beyond the Sandboxfile itself.
#include <map>
#include <optional>
#include <string>

namespace sbx::render {

/// The object the agent runs in.
enum class Workload { sandbox, pod, job };

/// Where the repository (the project directory) comes from on the cluster.
struct RepoSource {
  std::string pvc;      // an existing PersistentVolumeClaim holding the project, or
  std::string git_url;  // an https URL cloned by an init container (through the egress proxy)
};

struct KubernetesOptions {
  Workload workload = Workload::sandbox;
  std::string runtime_class = "kata-qemu";
  RepoSource repo;
  std::map<std::string, std::string> claims;  // mount target -> PVC for mounts outside the project
  std::optional<std::string> image;           // registry reference replacing [image]
  std::string proxy_image;                    // the sbx proxy image (sidecar, redirect and git clone)
  bool admission = false;                     // also emit the ValidatingAdmissionPolicy
};

}  // namespace sbx::render
