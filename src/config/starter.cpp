#include "config/starter.h"

namespace sbx::config {

namespace {

constexpr std::string_view kHeader = R"(# Sandboxfile: what sbx runs for this project. Reference: sandboxfile-spec/SPEC.md
# Check it with 'sbx validate', see the resolved result with 'sbx plan'.
version = 1
name = "{NAME}"           # default: this directory's name
)";

constexpr std::string_view kResources = R"(
[resources]
cpus = {CPUS}
memory = "{MEMORY}"       # KiB/MiB/GiB are powers of 1024; K/M/G (KB/MB/GB) powers of 1000
# disk = "2GiB"
)";

constexpr std::string_view kShell = R"(
[agent]
preset = "shell"          # or "claude-code", "codex"; or leave it out and set command
command = ["/bin/sh", "-c", "echo \"hello from sbx: $(uname -sr) on $(hostname)\""]
# args = []               # appended to command
# env = { LANG = "C.UTF-8" }
# workdir = "/workspace"
# user = "agent"

[image]
ref = "builtin"           # sbx's own small image; or "./rootfs", "./image.tar", "docker.io/library/alpine:3.19"

# The host directories the VM sees; nothing else is visible. Read-only unless mode = "rw".
[[mount]]
source = "."              # relative to this file; '~' is your home directory
target = "/workspace"

[egress]
# Default deny: no host is reachable unless allowed here. Examples:
#   "api.github.com"  "*.npmjs.org:443"  "re:^api[0-9]+\\.example\\.com$"  "10.0.0.0/8:5432"
#   { host = "registry.example.com", ports = [443, 8443] }
allow = []
)";

constexpr std::string_view kAgent = R"(
[agent]
preset = "{PRESET}"
# args = []               # appended to the preset's command ({COMMAND})
# env = { LANG = "C.UTF-8" }

[image]
# The image must contain the agent ({COMMAND}). The built-in image is busybox only: point ref at a
# rootfs directory, an image archive (docker save / OCI .tar) or a registry reference that has it.
ref = "builtin"

# The project, writable so the agent can edit it. Nothing else on the host is visible.
[[mount]]
source = "."
target = "/workspace"
mode = "rw"

[egress]
# Default deny: only these hosts are reachable (ports 80 and 443 unless written as "host:port").
allow = ["{API_HOST}"]
# deny = ["*.example.com"]  # deny beats allow

# The API key stays on the host: the proxy adds it to requests for the hosts below, and the VM
# never sees it. Store it first with 'sbx secret set {SECRET}'.
[[secret]]
name = "{SECRET}"
hosts = ["{API_HOST}"]
header = "{HEADER}"
template = "{TEMPLATE}"
)";

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

}  // namespace

std::string starter_sandboxfile(AgentPreset preset, std::string_view name) {
  std::string out(kHeader);
  if (preset == AgentPreset::shell || preset == AgentPreset::custom) {
    out += kShell;
    out += kResources;
    replace_all(out, "{CPUS}", "1");
    replace_all(out, "{MEMORY}", "256MiB");
  } else {
    out += kAgent;
    out += kResources;
    const bool claude = preset == AgentPreset::claude_code;
    replace_all(out, "{PRESET}", claude ? "claude-code" : "codex");
    replace_all(out, "{COMMAND}", claude ? "claude" : "codex");
    replace_all(out, "{API_HOST}", claude ? "api.anthropic.com" : "api.openai.com");
    replace_all(out, "{SECRET}", claude ? "anthropic-api-key" : "openai-api-key");
    replace_all(out, "{HEADER}", claude ? "x-api-key" : "Authorization");
    replace_all(out, "{TEMPLATE}", claude ? "{}" : "Bearer {}");
    replace_all(out, "{CPUS}", "2");
    replace_all(out, "{MEMORY}", "2GiB");
  }
  replace_all(out, "{NAME}", name);
  return out;
}

}  // namespace sbx::config
