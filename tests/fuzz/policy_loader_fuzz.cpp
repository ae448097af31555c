// libFuzzer target: the policy loader on arbitrary bytes, then the checks of a fixed Sandboxfile
// against what loaded. Beyond "no crash, no sanitizer report": every diagnostic has a location
// inside the input and never echoes a terminal escape, the same bytes load the same twice, and
// every violation names a rule of this policy at a line inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/loader.h"
#include "policy/check.h"
#include "policy/explain.h"
#include "policy/loader.h"

namespace {

// Mounts would make the checks touch the file system; everything else is exercised.
constexpr std::string_view kSandboxfile = R"(version = 1
[agent]
preset = "codex"
[image]
ref = "registry.example.com/team/agent:1"
[resources]
cpus = 8
memory = "8GiB"
[egress]
allow = ["api.example.com", "*.example.org:443", "re:^cdn[0-9]+\\.example\\.net$", "10.0.0.0/8", "192.0.2.1"]
[[secret]]
name = "gh-token"
hosts = ["api.example.com"]
header = "Authorization"
[[secret]]
name = "npm-token"
inject = "env"
env = "NPM_TOKEN"
)";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  long lines = 1;
  for (char c : text) lines += c == '\n';
  auto p = sbx::policy::load_policy_string(text, "policy.toml", sbx::policy::Origin::env);
  if (!p) {
    for (const auto& d : p.error().details) {
      if (d.location.line < 1 || d.location.line > lines + 1 || d.message.empty()) std::abort();
      if (d.source_line.find('\x1b') != std::string::npos) std::abort();
    }
    (void)p.error().render();
    return 0;
  }
  auto again = sbx::policy::load_policy_string(text, "policy.toml", sbx::policy::Origin::env);
  if (!again || again->name != p->name || again->enforcement != p->enforcement ||
      again->egress.deny.size() != p->egress.deny.size() || again->mounts.deny.size() != p->mounts.deny.size())
    std::abort();
  static const auto file = sbx::config::load_string(kSandboxfile, "Sandboxfile", "/fuzz/project");
  if (!file) std::abort();
  const sbx::policy::Report r = sbx::policy::check(*file, {*p});
  for (const auto& v : r.violations) {
    if (v.policy_at.file != "policy.toml" || v.policy_at.line < 1 || v.policy_at.line > lines) std::abort();
    if (v.message.empty() || v.fix.empty()) std::abort();
  }
  (void)sbx::policy::render_report(r, "Sandboxfile");
  return 0;
}
