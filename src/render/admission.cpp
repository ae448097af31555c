#include "render/admission.h"

#include "render/identity.h"

namespace sbx::render {

namespace {

using nlohmann::ordered_json;

// A CEL string literal: the values come from flags, so quote them.
std::string cel_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

ordered_json validation(std::string expression, std::string message) {
  return {{"expression", std::move(expression)}, {"message", std::move(message)}};
}

}  // namespace

std::vector<ordered_json> admission_policy(const config::Sandboxfile& f, const KubernetesOptions& o) {
  const std::string name = "sbx-sandbox-" + f.name;
  // Every container but the proxy sidecar: regular, init and ephemeral (kubectl debug) ones.
  const std::string others =
      "object.spec.containers"
      " + (has(object.spec.initContainers) ? object.spec.initContainers.filter(c, c.name != 'sbx-proxy') : [])"
      " + (has(object.spec.ephemeralContainers) ? object.spec.ephemeralContainers : [])";
  const std::string secret_volumes =
      "has(object.spec.volumes) ? object.spec.volumes.filter(v, has(v.secret) || (has(v.projected) && "
      "has(v.projected.sources) && v.projected.sources.exists(s, has(s.secret)))).map(v, v.name) : []";
  ordered_json validations = {
      validation("has(object.spec.runtimeClassName) && object.spec.runtimeClassName == " + cel_string(o.runtime_class),
                 "an sbx sandbox pod runs under runtimeClassName " + o.runtime_class),
      validation("!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.hostPath))",
                 "an sbx sandbox pod mounts no hostPath volume"),
      validation("has(object.spec.initContainers) && object.spec.initContainers.exists(c, c.name == 'sbx-proxy' && "
                 "c.image == " + cel_string(o.proxy_image) + " && has(c.restartPolicy) && c.restartPolicy == 'Always')",
                 "an sbx sandbox pod runs the sbx-proxy sidecar (image " + o.proxy_image + ")"),
      validation("has(object.spec.initContainers) && object.spec.initContainers.exists(c, c.name == 'sbx-egress-redirect')",
                 "an sbx sandbox pod redirects the agent's traffic to the sidecar (init container sbx-egress-redirect)"),
      validation("variables.others.all(c, !has(c.volumeMounts) || c.volumeMounts.all(m, !(m.name in variables.secretVolumes)))",
                 "only the sbx-proxy sidecar mounts a Secret"),
      validation("variables.others.all(c, (!has(c.env) || c.env.all(e, !has(e.valueFrom) || !has(e.valueFrom.secretKeyRef))) && "
                 "(!has(c.envFrom) || c.envFrom.all(e, !has(e.secretRef))))",
                 "no container but the sbx-proxy sidecar reads a Secret into its environment"),
  };
  ordered_json policy = {
      {"apiVersion", "admissionregistration.k8s.io/v1"},
      {"kind", "ValidatingAdmissionPolicy"},
      {"metadata", {{"name", name}, {"labels", labels(f)}}},
      {"spec",
       {{"failurePolicy", "Fail"},
        {"matchConstraints",
         {{"resourceRules",
           {{{"apiGroups", {""}},
             {"apiVersions", {"v1"}},
             {"operations", {"CREATE", "UPDATE"}},
             {"resources", {"pods", "pods/ephemeralcontainers"}}}}}}},
        {"variables", {{{"name", "others"}, {"expression", others}}, {{"name", "secretVolumes"}, {"expression", secret_volumes}}}},
        {"validations", validations}}}};
  ordered_json binding = {
      {"apiVersion", "admissionregistration.k8s.io/v1"},
      {"kind", "ValidatingAdmissionPolicyBinding"},
      {"metadata", {{"name", name}, {"labels", labels(f)}}},
      {"spec",
       {{"policyName", name},
        {"validationActions", {"Deny"}},
        {"matchResources", {{"objectSelector", {{"matchLabels", selector_labels(f)}}}}}}}};
  return {policy, binding};
}

}  // namespace sbx::render
