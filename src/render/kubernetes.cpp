#include "render/kubernetes.h"

#include "render/admission.h"
#include "render/egress_config.h"
#include "render/identity.h"
#include "render/network_policy.h"
#include "render/pod.h"
#include "render/yaml.h"

namespace sbx::render {

namespace {

using nlohmann::ordered_json;

ordered_json config_map(const config::Sandboxfile& f) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", metadata(f, egress_config_name(f))},
          {"data", {{"Sandboxfile", proxy_sandboxfile(f)}}}};
}

ordered_json workload(const config::Sandboxfile& f, const KubernetesOptions& o, ordered_json spec) {
  const ordered_json pod_meta = {{"labels", labels(f)}};
  switch (o.workload) {
    case Workload::pod:
      return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", metadata(f, f.name)}, {"spec", std::move(spec)}};
    case Workload::job:
      return {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", metadata(f, f.name)},
              {"spec", {{"backoffLimit", 0}, {"template", {{"metadata", pod_meta}, {"spec", std::move(spec)}}}}}};
    case Workload::sandbox: break;
  }
  return {{"apiVersion", "agents.x-k8s.io/v1beta1"},
          {"kind", "Sandbox"},
          {"metadata", metadata(f, f.name)},
          {"spec", {{"podTemplate", {{"metadata", pod_meta}, {"spec", std::move(spec)}}}}}};
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

}  // namespace

Result<std::vector<Manifest>> render_kubernetes(const config::Sandboxfile& f, const KubernetesOptions& o) {
  auto spec = SBX_TRY(pod_spec(f, o));
  std::vector<ordered_json> objects = {config_map(f), network_policy(f), workload(f, o, std::move(spec))};
  if (o.admission)
    for (auto& a : admission_policy(f, o)) objects.push_back(std::move(a));
  std::vector<Manifest> out;
  for (size_t i = 0; i < objects.size(); ++i) {
    const auto kind = lower(objects[i]["kind"].get<std::string>());
    const auto name = objects[i]["metadata"]["name"].get<std::string>();
    out.push_back({std::to_string(10 * (i + 1)) + "-" + kind + "-" + name + ".yaml", std::move(objects[i])});
  }
  return out;
}

std::string header_comment(const config::Sandboxfile& f) {
  std::string out = "# sandbox " + f.name + ", rendered by 'sbx render kubernetes' (" + portable_digest(f) + ")\n";
  std::string keys;
  for (const auto& s : f.secrets)
    if (s.inject == config::InjectKind::header) keys += " --from-file=" + s.name + "=./" + s.name;
  if (!keys.empty())
    out += "# it reads Secret " + secret_name(f) + ", which you create (sbx never writes values):\n#   kubectl create secret generic " +
           secret_name(f) + keys + "\n";
  return out;
}

std::string to_yaml_stream(const config::Sandboxfile& f, const std::vector<Manifest>& manifests) {
  std::string out = header_comment(f);
  for (const auto& m : manifests) out += "---\n" + to_yaml(m.object);
  return out;
}

}  // namespace sbx::render
