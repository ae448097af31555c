// [mounts]: never-mount paths, read-only paths, the most mounts, whether rw is allowed. Sources
// and policy paths are both compared after resolving symlinks and `..`, so a link in the project
// that points at ~/.ssh, or "./../../home/u/.ssh", is the directory it names.
#include "policy/check.h"
#include "config/protect.h"
#include "policy/policy_paths.h"

namespace sbx::policy::detail {
namespace fs = std::filesystem;

namespace {

std::string shown(const PathEntry& e, const fs::path& resolved) {
  return e.written == resolved.string() ? e.written : e.written + " (" + resolved.string() + ")";
}

// "mount source X" plus, when a link or `..` was resolved, what it was written as.
std::string source_text(const config::Mount& m, const fs::path& real) {
  return real == m.source ? "mount source " + real.string() : "mount source " + m.source.string() + " (resolves to " + real.string() + ")";
}

}  // namespace

void check_mounts(const config::Sandboxfile& file, const Policy& p, Report& report) {
  const MountRules& r = p.mounts;
  std::vector<std::pair<const PathEntry*, fs::path>> deny, itself, read_only;
  for (const auto& e : r.deny) deny.emplace_back(&e, resolve_policy_path(e.written));
  for (const auto& e : r.deny_itself) itself.emplace_back(&e, resolve_policy_path(e.written));
  for (const auto& e : r.read_only) read_only.emplace_back(&e, resolve_policy_path(e.written));

  for (size_t i = 0; i < file.mounts.size(); ++i) {
    const config::Mount& m = file.mounts[i];
    const Item item{ItemKind::mount, i};
    const fs::path real = real_path(m.source);
    const std::string src = source_text(m, real);
    for (const auto& [e, path] : deny) {
      if (path_within(real, path))
        report.violations.push_back(violation(
            p, item, "mounts.deny", e->where, m.location,
            src + (real == path ? " is " : " is inside ") + shown(*e, path) + ", which no sandbox may mount",
            "remove this [[mount]]; credentials reach a sandbox only as [[secret]] bindings"));
      else if (path_within(path, real))
        report.violations.push_back(violation(
            p, item, "mounts.deny", e->where, m.location,
            src + " contains " + shown(*e, path) + ", which no sandbox may mount",
            "mount a narrower directory that does not hold " + e->written));
    }
    for (const auto& [e, path] : itself)
      if (path_within(path, real))
        report.violations.push_back(violation(
            p, item, "mounts.deny_itself", e->where, m.location,
            src + (real == path ? " is " : " contains ") + shown(*e, path) + ", which no sandbox may mount as a whole",
            "mount the project directory (or another directory inside " + e->written + ") instead"));
    for (const auto& [e, path] : read_only) {
      if (!path_within(real, path) && !path_within(path, real)) continue;
      if (m.writable)
        report.violations.push_back(violation(
            p, item, "mounts.read_only", e->where, m.location,
            src + (path_within(real, path) ? " is inside " : " contains ") + shown(*e, path) +
                ", which a sandbox may mount only read-only",
            "write mode = \"ro\" in this [[mount]] (or leave mode out)"));
      else
        report.constraints.push_back(constraint(p, item, "read-only required (mounts.read_only \"" + e->written + "\")", e->where));
    }
    if (m.writable)
      for (const auto& e : r.protect) {
        if (config::is_protected(e.pattern, file.protect))
          report.constraints.push_back(constraint(p, item, "keeps " + e.pattern + " read-only (mounts.protect)", e.where));
        else
          report.violations.push_back(violation(p, item, "mounts.protect", e.where, m.location,
                                                src + " is mounted read-write without keeping " + e.pattern + " read-only in the guest",
                                                "add \"" + e.pattern + "\" to the top-level protect list"));
      }
    if (m.writable && r.allow_rw) {
      if (!r.allow_rw->value)
        report.violations.push_back(violation(p, item, "mounts.allow_rw", r.allow_rw->where, m.location,
                                              src + " is mounted read-write, which this policy does not allow",
                                              "write mode = \"ro\" in this [[mount]] (or leave mode out)"));
    }
    if (!deny.empty() || !itself.empty())
      report.constraints.push_back(constraint(
          p, item, "checked against " + std::to_string(deny.size() + itself.size()) + " never-mount paths",
          !deny.empty() ? deny.front().first->where : itself.front().first->where));
  }
  if (r.max && file.mounts.size() > r.max->value) {
    const config::Mount& extra = file.mounts[r.max->value];
    report.violations.push_back(violation(
        p, Item{ItemKind::mount, r.max->value}, "mounts.max", r.max->where, extra.location,
        "the Sandboxfile has " + std::to_string(file.mounts.size()) + " mounts; this policy allows at most " +
            std::to_string(r.max->value),
        "remove " + std::to_string(file.mounts.size() - r.max->value) + " [[mount]] section(s), from this one on"));
  }
}

}  // namespace sbx::policy::detail
