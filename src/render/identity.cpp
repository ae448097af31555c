#include "render/identity.h"

#include "common/digest.h"
#include "config/canonical.h"

namespace sbx::render {

using nlohmann::ordered_json;

std::string portable_digest(const config::Sandboxfile& f) {
  auto j = config::to_json(f);
  j.erase("project_dir");
  for (auto& m : j["mounts"]) {
    const std::filesystem::path source = m["source"].get<std::string>();
    const auto rel = source.lexically_relative(f.project_dir);
    if (!rel.empty() && *rel.begin() != "..") m["source"] = rel == "." ? std::string(".") : "./" + rel.string();
  }
  return sbx::digest::sha256(j.dump());
}

ordered_json selector_labels(const config::Sandboxfile& f) { return {{"sbx.dev/sandbox", f.name}}; }

ordered_json labels(const config::Sandboxfile& f) {
  const auto d = portable_digest(f);
  const auto hex = d.substr(d.find(':') + 1, 32);
  return {{"app.kubernetes.io/name", f.name},
          {"app.kubernetes.io/managed-by", "sbx"},
          {"sbx.dev/sandbox", f.name},
          {"sbx.dev/sandboxfile-digest", hex}};
}

ordered_json metadata(const config::Sandboxfile& f, const std::string& name) {
  return {{"name", name}, {"labels", labels(f)}, {"annotations", {{"sbx.dev/sandboxfile-digest", portable_digest(f)}}}};
}

std::string egress_config_name(const config::Sandboxfile& f) { return f.name + "-sbx-egress"; }
std::string secret_name(const config::Sandboxfile& f) { return f.name + "-sbx-secrets"; }

}  // namespace sbx::render
