#include "config/starter.h"

#include <vector>

#include "config/units.h"

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
preset = "shell"          # or an agent: sbx init --agent claude-code; or leave it out and set command
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
# {DESCRIPTION}. Everything the preset sets is listed by 'sbx plan'; a key written here wins.
[agent]
preset = "{PRESET}"
# args = []               # appended to the preset's command ({COMMAND})
# version = "1.2.3"       # npm version of {PACKAGE}: exact, a dist-tag or a range (preset: {VERSION})
# env = { LANG = "C.UTF-8" }

# No [image]: on the first 'sbx up', sbx builds its Debian dev image and installs the agent's npm
# package into a layer on top, inside a build VM (npm's install scripts never run on this host).
# Both are cached. Or name an image that already has {COMMAND}:
# [image]
# ref = "./rootfs"

# The project, writable so the agent can edit it. Nothing else on the host is visible.
[[mount]]
source = "."
target = "/workspace"
mode = "rw"

[egress]
# Default deny: only these hosts are reachable (ports 80 and 443 unless written as "host:port").
allow = [{ALLOW}]
# deny = ["*.example.com"]  # deny beats allow
)";

constexpr std::string_view kSecret = R"(
# The API key stays on the host: the proxy adds it to requests for the hosts below, and the VM
# only sees a placeholder. Store it first with 'sbx secret set {SECRET}'.
[[secret]]
name = "{SECRET}"
hosts = [{HOSTS}]
header = "{HEADER}"
template = "{TEMPLATE}"
)";

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "\"" : ", \"") + i + "\"";
  return out;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

}  // namespace

std::string starter_sandboxfile(const Preset& preset, std::string_view name) {
  std::string out(kHeader);
  if (!preset.package) {
    out += kShell;
    out += kResources;
    replace_all(out, "{CPUS}", "1");
    replace_all(out, "{MEMORY}", "256MiB");
  } else {
    out += kAgent;
    if (preset.secret) out += kSecret;
    out += kResources;
    std::vector<std::string> allow;
    for (const auto& r : preset.allow) allow.push_back(r.text);
    replace_all(out, "{PRESET}", preset.name);
    replace_all(out, "{DESCRIPTION}", preset.description.substr(0, preset.description.find(':')));
    replace_all(out, "{COMMAND}", preset.command.front());
    replace_all(out, "{PACKAGE}", preset.package->name);
    replace_all(out, "{VERSION}", preset.package->version);
    replace_all(out, "{ALLOW}", quoted_list(allow));
    if (preset.secret) {
      replace_all(out, "{SECRET}", preset.secret->name);
      replace_all(out, "{HOSTS}", quoted_list(preset.secret->hosts));
      replace_all(out, "{HEADER}", preset.secret->header);
      replace_all(out, "{TEMPLATE}", preset.secret->value_template);
    }
    replace_all(out, "{CPUS}", std::to_string(preset.cpus.value_or(2)));
    replace_all(out, "{MEMORY}", format_size(preset.memory_bytes.value_or(2ull << 30)));
  }
  replace_all(out, "{NAME}", name);
  return out;
}

}  // namespace sbx::config
