// [images], [resources], [agents], [docker]: one value of the Sandboxfile against one limit.
#include "policy/check.h"
#include "policy/glob.h"

#include <algorithm>

#include "config/names.h"
#include "config/units.h"

namespace sbx::policy::detail {

void check_images(const config::Sandboxfile& file, const Policy& p, Report& report) {
  const ImageRules& r = p.images;
  const config::Image& img = file.image;
  const Location at = or_file(img.location, file);
  const Item item{ItemKind::image};
  if (r.allow) {
    auto m = std::find_if(r.allow->value.begin(), r.allow->value.end(),
                          [&](const PatternEntry& e) { return glob_match(e.pattern, img.reference); });
    if (m == r.allow->value.end())
      report.violations.push_back(violation(p, item, "images.allow", r.allow->where, at,
                                            "image " + img.reference + " is not one this policy allows",
                                            "use an image matching one of the policy's [images] allow patterns"));
    else
      report.constraints.push_back(constraint(p, item, "allowed by \"" + m->pattern + "\"", m->where));
  }
  if (r.require_digest && r.require_digest->value && !img.digest) {
    if (img.kind == config::ImageKind::registry || img.kind == config::ImageKind::oci_archive)
      report.violations.push_back(violation(p, item, "images.require_digest", r.require_digest->where, at,
                                            "image " + img.reference + " is not pinned by digest, which this policy requires",
                                            "add digest = \"sha256:...\" to [image] (sbx image ls shows the digest of a pulled image)"));
    else if (img.kind == config::ImageKind::rootfs_dir)
      report.violations.push_back(violation(p, item, "images.require_digest", r.require_digest->where, at,
                                            "a rootfs directory (" + img.reference + ") cannot be pinned by digest, which this policy requires",
                                            "pack it as an image archive (.tar) and pin it with digest = \"sha256:...\""));
  }
}

void check_limits(const config::Sandboxfile& file, const Policy& p, Report& report) {
  const ResourceRules& r = p.resources;
  const Location at = or_file(file.resources.location, file);
  const Item res{ItemKind::resources};
  if (r.max_cpus && file.resources.cpus > r.max_cpus->value)
    report.violations.push_back(violation(p, res, "resources.max_cpus", r.max_cpus->where, at,
                                          "cpus " + std::to_string(file.resources.cpus) + " is more than this policy allows (" +
                                              std::to_string(r.max_cpus->value) + ")",
                                          "write cpus = " + std::to_string(r.max_cpus->value) + " or less in [resources]"));
  if (r.max_memory && file.resources.memory_bytes > r.max_memory->value)
    report.violations.push_back(violation(p, res, "resources.max_memory", r.max_memory->where, at,
                                          "memory " + config::format_size(file.resources.memory_bytes) + " is more than this policy allows (" +
                                              config::format_size(r.max_memory->value) + ")",
                                          "write memory = \"" + config::format_size(r.max_memory->value) + "\" or less in [resources]"));
  if (r.max_disk && file.resources.disk_bytes > r.max_disk->value)
    report.violations.push_back(violation(p, res, "resources.max_disk", r.max_disk->where, at,
                                          "disk " + config::format_size(file.resources.disk_bytes) + " is more than this policy allows (" +
                                              config::format_size(r.max_disk->value) + ")",
                                          "write disk = \"" + config::format_size(r.max_disk->value) + "\" or less in [resources]"));
  if (p.agents.allow) {
    const std::string& preset = file.agent.preset;
    const auto& allowed = p.agents.allow->value;
    if (std::find(allowed.begin(), allowed.end(), preset) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      report.violations.push_back(violation(p, {ItemKind::agent}, "agents.allow", p.agents.allow->where, or_file(file.agent.location, file),
                                            "agent preset " + preset + " is not one this policy allows",
                                            list.empty() ? "this policy allows no agent on this machine"
                                                         : "use one of: " + list));
    }
  }
  if (p.docker.allow && !p.docker.allow->value && file.docker.enabled)
    report.violations.push_back(violation(p, {ItemKind::docker}, "docker.allow", p.docker.allow->where, or_file(file.docker.location, file),
                                          "[docker] enabled asks for a Docker daemon in the sandbox, which this policy does not allow",
                                          "remove [docker] (or write enabled = false)"));
}

}  // namespace sbx::policy::detail
