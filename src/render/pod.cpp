#include "render/pod.h"

#include "render/agent_user.h"
#include "render/identity.h"

namespace sbx::render {

namespace {

using nlohmann::ordered_json;

constexpr std::string_view kConfigDir = "/etc/sbx/egress";
constexpr std::string_view kSecretsDir = "/var/run/sbx/secrets";
constexpr std::string_view kStateDir = "/var/run/sbx/state";
constexpr std::string_view kCaDir = "/var/run/sbx/ca";
constexpr std::string_view kRepoCloneDir = "/sbx/repo";

// A host path as the user can paste it: relative to the current directory when that is near.
std::string shown(const std::filesystem::path& p) {
  std::error_code ec;
  const auto rel = p.lexically_relative(std::filesystem::current_path(ec));
  if (ec || rel.empty() || rel.string().starts_with("../../..")) return p.string();
  return rel.string();
}

std::string proxy_url() { return "http://127.0.0.1:" + std::to_string(kProxyPort); }

// Kubernetes quantities in the largest binary unit that is exact, else bytes.
std::string quantity(std::uint64_t bytes) {
  constexpr std::pair<std::uint64_t, std::string_view> kUnits[] = {
      {1ull << 40, "Ti"}, {1ull << 30, "Gi"}, {1ull << 20, "Mi"}, {1ull << 10, "Ki"}};
  for (auto [factor, unit] : kUnits)
    if (bytes % factor == 0) return std::to_string(bytes / factor) + std::string(unit);
  return std::to_string(bytes);
}

bool header_secrets(const config::Sandboxfile& f) {
  for (const auto& s : f.secrets)
    if (s.inject == config::InjectKind::header) return true;
  return false;
}

ordered_json env_var(std::string name, std::string value) { return {{"name", std::move(name)}, {"value", std::move(value)}}; }

ordered_json drop_all() { return {{"drop", {"ALL"}}}; }

// The init container that sends the agent's traffic to the sidecar, as service meshes do: the
// agent's TCP to anywhere but loopback is redirected to the transparent port; anything else it
// sends off loopback is refused, except DNS (the proxy decides by name, so lookups must work).
// IPv6 gets no redirect, only the refusal. It runs as root with NET_ADMIN and NET_RAW, before
// every other container, and the agent holds neither capability, so it cannot undo the rules.
ordered_json redirect_container(const KubernetesOptions& o, long uid) {
  const std::string u = std::to_string(uid);
  const std::string script =
      "set -eu\n"
      "iptables -t nat -N SBX_EGRESS\n"
      "iptables -t nat -A OUTPUT -p tcp -m owner --uid-owner " + u + " -j SBX_EGRESS\n"
      "iptables -t nat -A SBX_EGRESS -o lo -j RETURN\n"
      "iptables -t nat -A SBX_EGRESS -p tcp -j REDIRECT --to-ports " + std::to_string(kTransparentPort) + "\n"
      // The filter hook still sees a redirected packet's first output device, not lo: accept
      // it by its rewritten destination.
      "iptables -A OUTPUT -m owner --uid-owner " + u + " -d 127.0.0.1/32 -p tcp --dport " + std::to_string(kTransparentPort) +
      " -j ACCEPT\n"
      "iptables -A OUTPUT -m owner --uid-owner " + u + " -o lo -j ACCEPT\n"
      "iptables -A OUTPUT -m owner --uid-owner " + u + " -p udp --dport 53 -j ACCEPT\n"
      "iptables -A OUTPUT -m owner --uid-owner " + u + " -j REJECT\n"
      "if [ -e /proc/net/if_inet6 ]; then\n"
      "  ip6tables -A OUTPUT -m owner --uid-owner " + u + " -o lo -j ACCEPT\n"
      "  ip6tables -A OUTPUT -m owner --uid-owner " + u + " -p udp --dport 53 -j ACCEPT\n"
      "  ip6tables -A OUTPUT -m owner --uid-owner " + u + " -j REJECT\n"
      "fi\n";
  return {{"name", "sbx-egress-redirect"},
          {"image", o.proxy_image},
          {"command", {"/bin/sh", "-c", script}},
          {"securityContext",
           {{"runAsUser", 0},
            {"runAsNonRoot", false},
            {"allowPrivilegeEscalation", false},
            {"capabilities", {{"add", {"NET_ADMIN", "NET_RAW"}}, {"drop", {"ALL"}}}}}},
          {"resources", {{"limits", {{"cpu", "100m"}, {"memory", "32Mi"}}}}}};
}

// The egress proxy as a native sidecar (an init container that keeps running), so it is up
// before the git clone and the agent start and outlives neither.
ordered_json proxy_container(const config::Sandboxfile& f, const KubernetesOptions& o) {
  ordered_json cmd = {"sbx", "proxy", "--sandboxfile", std::string(kConfigDir) + "/Sandboxfile", "--listen",
                      "127.0.0.1:" + std::to_string(kProxyPort), "--transparent",
                      "127.0.0.1:" + std::to_string(kTransparentPort), "--state-dir", std::string(kStateDir), "--log",
                      "/dev/stdout"};
  ordered_json mounts = {{{"name", "sbx-egress-config"}, {"mountPath", std::string(kConfigDir)}, {"readOnly", true}},
                         {{"name", "sbx-proxy-state"}, {"mountPath", std::string(kStateDir)}}};
  if (header_secrets(f)) {
    for (auto a : {"--secrets-dir", kSecretsDir.data(), "--ca-bundle-out", "/var/run/sbx/ca/ca-bundle.crt"}) cmd.push_back(a);
    mounts.push_back({{"name", "sbx-secrets"}, {"mountPath", std::string(kSecretsDir)}, {"readOnly", true}});
    mounts.push_back({{"name", "sbx-ca"}, {"mountPath", std::string(kCaDir)}});
  }
  return {{"name", "sbx-proxy"},
          {"image", o.proxy_image},
          {"command", cmd},
          {"restartPolicy", "Always"},
          // Gates the init containers after it (the git clone) on the proxy answering.
          {"startupProbe",
           {{"exec", {{"command", {"curl", "-s", "-o", "/dev/null", proxy_url() + "/"}}}},
            {"periodSeconds", 1},
            {"failureThreshold", 30}}},
          {"securityContext",
           {{"runAsUser", kProxyUid},
            {"runAsGroup", kProxyUid},
            {"runAsNonRoot", true},
            {"readOnlyRootFilesystem", true},
            {"allowPrivilegeEscalation", false},
            {"capabilities", drop_all()}}},
          {"resources", {{"requests", {{"cpu", "50m"}, {"memory", "64Mi"}}}, {"limits", {{"memory", "256Mi"}}}}},
          {"volumeMounts", mounts}};
}

ordered_json agent_security(const AgentIds& ids) {
  ordered_json s = {{"runAsUser", ids.uid}};
  if (ids.gid) s["runAsGroup"] = *ids.gid;
  s["runAsNonRoot"] = true;
  s["allowPrivilegeEscalation"] = false;
  s["capabilities"] = drop_all();
  return s;
}

ordered_json proxy_env(const config::Sandboxfile& f) {
  ordered_json env = ordered_json::array();
  for (auto n : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) env.push_back(env_var(n, proxy_url()));
  for (auto n : {"NO_PROXY", "no_proxy"}) env.push_back(env_var(n, "localhost,127.0.0.1,::1"));
  if (header_secrets(f)) {
    // The bundle the sidecar writes: the system roots plus the per-sandbox CA that signs the
    // intercepted hosts' certificates.
    const std::string bundle = std::string(kCaDir) + "/ca-bundle.crt";
    for (auto n : {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS"})
      env.push_back(env_var(n, bundle));
  }
  return env;
}

struct Volumes {
  ordered_json volumes = ordered_json::array();
  ordered_json agent_mounts = ordered_json::array();
  bool repo_used = false;
};

// [[mount]] -> volumes: the project (and what lies under it) from the repo volume, other host
// directories from the claim named for their target. No hostPath, ever.
Result<Volumes> mount_volumes(const config::Sandboxfile& f, const KubernetesOptions& o) {
  Volumes v;
  std::vector<std::string> claim_volumes;
  for (size_t i = 0; i < f.mounts.size(); ++i) {
    const auto& m = f.mounts[i];
    ordered_json vm = {{"name", ""}, {"mountPath", m.target}};
    const auto rel = m.source.lexically_relative(f.project_dir);
    if (const auto c = o.claims.find(m.target); c != o.claims.end()) {
      const std::string name = "sbx-mount-" + std::to_string(i);
      vm["name"] = name;
      v.volumes.push_back({{"name", name}, {"persistentVolumeClaim", {{"claimName", c->second}, {"readOnly", !m.writable}}}});
    } else if (!rel.empty() && *rel.begin() != "..") {
      if (o.repo.pvc.empty() && o.repo.git_url.empty())
        return fail(ErrorCode::usage, "mount " + m.target + " is the project directory (or under it), and the cluster has no copy of it",
                    "give the repository with --git-url URL (cloned by an init container) or --repo-pvc NAME", m.location);
      vm["name"] = "sbx-repo";
      if (rel != ".") vm["subPath"] = rel.string();
      v.repo_used = true;
    } else {
      return fail(ErrorCode::usage, "mount " + m.target + " comes from " + shown(m.source) + ", a host path no cluster node has",
                  "name a PersistentVolumeClaim for it with --claim " + m.target + "=CLAIM, or remove the mount (hostPath is never rendered)",
                  m.location);
    }
    vm["readOnly"] = !m.writable;
    v.agent_mounts.push_back(std::move(vm));
  }
  for (const auto& [target, claim] : o.claims) {
    bool used = false;
    for (const auto& m : f.mounts) used |= m.target == target;
    if (!used) return fail(ErrorCode::usage, "--claim " + target + "=" + claim + " names no [[mount]] target", "write a target of the Sandboxfile's mounts");
  }
  if (v.repo_used) {
    ordered_json repo = {{"name", "sbx-repo"}};
    if (!o.repo.pvc.empty())
      repo["persistentVolumeClaim"] = {{"claimName", o.repo.pvc}};
    else
      repo["emptyDir"] = ordered_json::object();
    v.volumes.insert(v.volumes.begin(), std::move(repo));
  }
  return v;
}

ordered_json git_clone_container(const KubernetesOptions& o, const AgentIds& ids, const config::Sandboxfile& f) {
  ordered_json env = proxy_env(f);
  return {{"name", "sbx-git-clone"},
          {"image", o.proxy_image},
          {"command", {"git", "clone", "--depth", "1", "--", o.repo.git_url, std::string(kRepoCloneDir)}},
          {"env", env},
          {"securityContext", agent_security(ids)},
          {"resources", {{"limits", {{"cpu", "500m"}, {"memory", "256Mi"}}}}},
          {"volumeMounts", {{{"name", "sbx-repo"}, {"mountPath", std::string(kRepoCloneDir)}}}}};
}

Result<void> refuse_env_secrets(const config::Sandboxfile& f) {
  for (const auto& s : f.secrets)
    if (s.inject == config::InjectKind::env)
      return fail(ErrorCode::invalid,
                  "secret '" + s.name + "' has inject = \"env\": on a cluster no Secret is given to the agent container",
                  "use inject = \"header\" so the sidecar adds it on the wire, or drop it from the file you render",
                  s.location);
  return {};
}

}  // namespace

Result<std::string> agent_image(const config::Sandboxfile& f, const KubernetesOptions& o) {
  if (o.image) return *o.image;
  const auto& img = f.image;
  const auto ref = shown(img.reference);
  switch (img.kind) {
    case config::ImageKind::registry:
      return img.digest ? img.reference + "@" + *img.digest : img.reference;
    case config::ImageKind::builtin:
      return fail(ErrorCode::invalid, "[image] is sbx's built-in image, which exists only on this machine",
                  "push an image to a registry the cluster pulls from and render with --image REGISTRY/NAME:TAG "
                  "(or set [image] ref to it)",
                  img.location);
    case config::ImageKind::oci_archive:
      return fail(ErrorCode::invalid, "[image] " + ref + " is a local archive; a cluster pulls from a registry",
                  "push it: skopeo copy oci-archive:" + ref +
                      " docker://REGISTRY/NAME:TAG (docker-archive: for a 'docker save' file), then render with "
                      "--image REGISTRY/NAME:TAG or set [image] ref to it",
                  img.location);
    case config::ImageKind::dev:
      return fail(ErrorCode::invalid, "[image] is sbx's dev image, which sbx builds on this machine only",
                  "push an image with the tools your agent needs to a registry the cluster pulls from and render "
                  "with --image REGISTRY/NAME:TAG (or set [image] ref to it)",
                  img.location);
    case config::ImageKind::saved:
      return fail(ErrorCode::invalid, "[image] " + ref + " was saved from a sandbox on this machine; a cluster pulls from a registry",
                  "push an image to a registry the cluster pulls from and render with --image REGISTRY/NAME:TAG "
                  "(or set [image] ref to it)",
                  img.location);
    case config::ImageKind::rootfs_dir:
      break;
  }
  return fail(ErrorCode::invalid, "[image] " + ref + " is a local directory; a cluster pulls from a registry",
              "push it: tar -C " + ref + " -c . | docker import - REGISTRY/NAME:TAG && docker push REGISTRY/NAME:TAG, "
              "then render with --image REGISTRY/NAME:TAG or set [image] ref to it",
              img.location);
}

Result<ordered_json> pod_spec(const config::Sandboxfile& f, const KubernetesOptions& o) {
  const auto image = SBX_TRY(agent_image(f, o));
  const auto ids = SBX_TRY(agent_ids(f.agent));
  SBX_TRY_VOID(refuse_env_secrets(f));
  auto vols = SBX_TRY(mount_volumes(f, o));

  ordered_json agent = {{"name", "agent"}, {"image", image}};
  // Without a command, preset or args in the file, the image's Entrypoint/Cmd run, as with sbx up.
  if (f.agent.command_given) agent["command"] = f.agent.command;
  if (f.agent.workdir_given) agent["workingDir"] = f.agent.workdir;
  ordered_json env = proxy_env(f);
  for (const auto& [k, v] : f.agent.env) env.push_back(env_var(k, v));
  agent["env"] = env;
  const ordered_json sizes = {{"cpu", std::to_string(f.resources.cpus)},
                              {"memory", quantity(f.resources.memory_bytes)},
                              {"ephemeral-storage", quantity(f.resources.disk_bytes)}};
  agent["resources"] = {{"requests", sizes}, {"limits", sizes}};
  agent["securityContext"] = agent_security(ids);
  if (header_secrets(f)) vols.agent_mounts.push_back({{"name", "sbx-ca"}, {"mountPath", std::string(kCaDir)}, {"readOnly", true}});
  if (!vols.agent_mounts.empty()) agent["volumeMounts"] = vols.agent_mounts;

  ordered_json init = {redirect_container(o, ids.uid), proxy_container(f, o)};
  if (vols.repo_used && !o.repo.git_url.empty()) init.push_back(git_clone_container(o, ids, f));

  ordered_json volumes = vols.volumes;
  volumes.push_back({{"name", "sbx-egress-config"}, {"configMap", {{"name", egress_config_name(f)}}}});
  // The CA key lives here: memory only, never on the node's disk.
  volumes.push_back({{"name", "sbx-proxy-state"}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "16Mi"}}}});
  if (header_secrets(f)) {
    // World-readable inside the one container that mounts it: the sidecar runs as its own uid and
    // an fsGroup would re-own every other volume of the pod too.
    volumes.push_back({{"name", "sbx-secrets"}, {"secret", {{"secretName", secret_name(f)}, {"defaultMode", 0444}}}});
    volumes.push_back({{"name", "sbx-ca"}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "4Mi"}}}});
  }

  ordered_json spec = {{"runtimeClassName", o.runtime_class},
                       {"automountServiceAccountToken", false},
                       {"enableServiceLinks", false}};
  if (o.workload == Workload::job) spec["restartPolicy"] = "Never";
  spec["securityContext"] = {{"seccompProfile", {{"type", "RuntimeDefault"}}}};
  spec["initContainers"] = init;
  spec["containers"] = ordered_json::array({agent});
  spec["volumes"] = volumes;
  return spec;
}

}  // namespace sbx::render
