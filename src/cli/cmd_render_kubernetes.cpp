// sbx render kubernetes [PATH]: the Sandboxfile as manifests for a cluster (a Sandbox, Pod or
// Job under a Kata runtime class, the sbx proxy as a sidecar, a NetworkPolicy).
#include <filesystem>
#include <iostream>

#include "cli/cmd_policy_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/atomic_file.h"
#include "config/image_ref.h"
#include "config/loader.h"
#include "render/kubernetes.h"
#include "render/yaml.h"

namespace sbx::cli {

namespace {

// A DNS-1123 subdomain: what Kubernetes accepts as a claim or runtime class name.
bool k8s_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(s.front()) && alnum(s.back());
}

Result<std::string> k8s_name_flag(std::string_view flag, const std::string& v) {
  if (k8s_name(v)) return v;
  return fail(ErrorCode::usage, "--" + std::string(flag) + " '" + v + "' is not a Kubernetes name",
              "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit");
}

Result<std::string> registry_flag(std::string_view flag, const std::string& v) {
  auto img = config::parse_image_ref(v, "/");
  if (!img || img->kind != config::ImageKind::registry)
    return fail(ErrorCode::usage, "--" + std::string(flag) + " '" + v + "' is not a registry reference",
                "write REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:...");
  return img->digest ? img->reference + "@" + *img->digest : img->reference;
}

// Only https, and no credentials in the URL: sbx render never writes a secret value.
Result<std::string> git_url_flag(const std::string& v) {
  const bool https = v.starts_with("https://") && v.size() > 8;
  const auto authority = https ? v.substr(8, v.find('/', 8) - 8) : std::string();
  bool clean = true;
  for (unsigned char c : v) clean &= c > 0x20 && c < 0x7F;
  if (!https || authority.empty() || authority.find('@') != std::string::npos || !clean)
    return fail(ErrorCode::usage, "--git-url '" + v + "' is not an https URL without credentials",
                "write https://HOST/OWNER/REPO.git; a private repository's token belongs in a header [[secret]] for its host");
  return v;
}

Result<render::KubernetesOptions> options(const Args& a) {
  render::KubernetesOptions o;
  if (a.flag("plain") && a.flag("job")) return fail(ErrorCode::usage, "--plain and --job exclude each other");
  if (a.flag("plain")) o.workload = render::Workload::pod;
  if (a.flag("job")) o.workload = render::Workload::job;
  if (auto v = a.value("runtime-class")) o.runtime_class = SBX_TRY(k8s_name_flag("runtime-class", *v));
  if (a.value("repo-pvc") && a.value("git-url"))
    return fail(ErrorCode::usage, "--repo-pvc and --git-url exclude each other", "the repository comes from one of them");
  if (auto v = a.value("repo-pvc")) o.repo.pvc = SBX_TRY(k8s_name_flag("repo-pvc", *v));
  if (auto v = a.value("git-url")) o.repo.git_url = SBX_TRY(git_url_flag(*v));
  for (const auto& c : a.all("claim")) {
    const auto eq = c.find('=');
    if (eq == std::string::npos || eq == 0 || c[0] != '/')
      return fail(ErrorCode::usage, "--claim '" + c + "' is not TARGET=CLAIM", "e.g. --claim /home/agent/.npm=npm-cache");
    o.claims[c.substr(0, eq)] = SBX_TRY(k8s_name_flag("claim", c.substr(eq + 1)));
  }
  if (auto v = a.value("image")) o.image = SBX_TRY(registry_flag("image", *v));
  o.proxy_image = SBX_TRY(registry_flag("proxy-image", a.value("proxy-image").value_or("sbx-proxy:" SBX_VERSION)));
  o.admission = a.flag("admission");
  return o;
}

int run_render_kubernetes(const Args& a) {
  const Output out = Output::for_args(a);
  auto opts = options(a);
  if (!opts) return out.error(opts.error());
  auto file = config::load_file(a.positionals.empty() ? "." : a.positionals.front());
  if (!file) return out.problems(file.error());
  // The org policies of this machine apply at render time as at `sbx up`: an enforced violation
  // fails the render (warnings are printed), so a cluster gets nothing this host would refuse.
  if (auto checked = enforce_policies(*file, out); !checked) return out.problems(checked.error());
  auto manifests = render::render_kubernetes(*file, *opts);
  if (!manifests) return out.error(manifests.error());
  const auto dir = a.value("out");
  if (!dir) {
    std::cout << render::to_yaml_stream(*file, *manifests);
    return 0;
  }
  std::error_code ec;
  std::filesystem::create_directories(*dir, ec);
  if (ec) return out.error(make_error(ErrorCode::io, "cannot create " + *dir + ": " + ec.message()));
  for (const auto& m : *manifests) {
    auto w = write_file_atomic(std::filesystem::path(*dir) / m.file_name,
                               render::header_comment(*file) + render::to_yaml(m.object));
    if (!w) return out.error(w.error());
    out.note("wrote " + (std::filesystem::path(*dir) / m.file_name).string());
  }
  return 0;
}

}  // namespace

const CommandSpec kRenderKubernetesCommand{
    .name = "render kubernetes",
    .summary = "Print the Sandboxfile as Kubernetes manifests: a Kata pod with the proxy as sidecar",
    .usage = "sbx render kubernetes [OPTIONS] [PATH]",
    .description =
        "Prints the Sandboxfile at PATH (default: the current directory) as Kubernetes objects, for a\n"
        "cluster whose nodes run microVM pods (Kata Containers). Kubernetes schedules; sbx does not.\n"
        "\n"
        "    ConfigMap NAME-sbx-egress    the resolved [egress] rules and header [[secret]] bindings\n"
        "    NetworkPolicy NAME-sbx-egress  egress to DNS and public addresses only, no ingress\n"
        "    Sandbox NAME                 agents.x-k8s.io/v1beta1 (kubernetes-sigs/agent-sandbox);\n"
        "                                 a Pod with --plain, a Job with --job\n"
        "\n"
        "The pod runs under --runtime-class (default kata-qemu) with [resources] as requests and\n"
        "limits. The agent container runs [image] (a registry reference; a local image is an error\n"
        "that says how to push it) as the [agent] user's uid, without capabilities and without a\n"
        "service account token. The sbx proxy runs beside it as a native sidecar with the rules;\n"
        "an init container with NET_ADMIN redirects all the agent's TCP to it (iptables, by uid)\n"
        "and refuses its other traffic but DNS; HTTP(S)_PROXY point at it too. Header secrets come\n"
        "from the Secret NAME-sbx-secrets, mounted into the sidecar only; the manifests name it and\n"
        "never hold a value. inject = \"env\" secrets are refused.\n"
        "\n"
        "Mounts become volumes, rw/ro kept: the project directory (and paths under it) from\n"
        "--repo-pvc or a --git-url clone made by an init container through the proxy (so its host\n"
        "must be allowed by [egress]); any other host directory needs --claim TARGET=CLAIM. No\n"
        "hostPath is ever rendered.\n"
        "\n"
        "The file is first checked against this machine's org policies ('sbx policy ls'), as by\n"
        "'sbx up': a rule of an enforcing policy it breaks fails the render, a warning policy's is\n"
        "printed.\n"
        "\n"
        "The output is deterministic: the same file and options give the same bytes. Labels carry\n"
        "sbx.dev/sandboxfile-digest, the first 32 hex digits of the portable digest (the annotation\n"
        "holds all of it): sbx plan's digest without where the project lies on this host.\n"
        "\n"
        "EXIT STATUS\n"
        "    0 rendered; 1 the Sandboxfile is invalid or cannot map to a cluster; 2 usage.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx render kubernetes --git-url https://git.example.com/team/app.git | kubectl apply -f -\n"
        "    sbx render kubernetes --plain --repo-pvc app-src --image registry.example.com/agent:1 --out k8s/\n"
        "    sbx render kubernetes --admission --repo-pvc app-src > sandbox.yaml\n",
    .options =
        {
            {.long_name = "plain", .help = "Render a plain Pod instead of an agent-sandbox Sandbox."},
            {.long_name = "job", .help = "Render a Job (restartPolicy Never, no retries) for a headless run."},
            {.long_name = "runtime-class", .value_name = "NAME", .help = "runtimeClassName of the pod (default kata-qemu)."},
            {.long_name = "out", .value_name = "DIR", .help = "Write one file per object into DIR instead of stdout."},
            {.long_name = "repo-pvc", .value_name = "NAME", .help = "The PersistentVolumeClaim holding the project directory."},
            {.long_name = "git-url", .value_name = "URL", .help = "Clone the project from this https URL in an init container."},
            {.long_name = "claim", .value_name = "TARGET=CLAIM", .help = "The PVC for a mount outside the project.", .repeatable = true},
            {.long_name = "image", .value_name = "REF", .help = "Registry reference of the agent image, replacing [image]."},
            {.long_name = "proxy-image", .value_name = "REF", .help = "The sbx proxy image (default sbx-proxy:" SBX_VERSION ")."},
            {.long_name = "admission", .help = "Also render a ValidatingAdmissionPolicy guarding the pod's invariants."},
        },
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_render_kubernetes,
};

}  // namespace sbx::cli
