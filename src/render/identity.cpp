#include "render/identity.h"

#include <optional>

#include "common/digest.h"
#include "config/canonical.h"

namespace sbx::render {

using nlohmann::ordered_json;

std::string portable_digest(const config::Sandboxfile& f) {
  auto j = config::to_json(f);
  j.erase("project_dir");
  // Paths inside the project are written relative to it: where a checkout lies is not the file.
  const auto inside = [&](const std::string& path) -> std::optional<std::string> {
    const std::filesystem::path p = path;
    if (!p.is_absolute()) return std::nullopt;
    const auto rel = p.lexically_relative(f.project_dir);
    if (rel.empty() || *rel.begin() == "..") return std::nullopt;
    return rel == "." ? std::string(".") : "./" + rel.string();
  };
  for (auto& m : j["mounts"])
    if (auto rel = inside(m["source"].get<std::string>())) m["source"] = *rel;
  // A local image ([image] ref = "./images/agent.tar") is a path too.
  if (j.contains("image") && j["image"].contains("ref") && j["image"]["ref"].is_string())
    if (auto rel = inside(j["image"]["ref"].get<std::string>())) j["image"]["ref"] = *rel;
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
