#pragma once
// Checking a resolved Sandboxfile against the active policies. Each policy is checked on its
// own and every violation kept, so the merge table of POLICY.md holds by construction: a deny
// of any policy refuses (union), every ceiling must allow (intersection), every limit must hold
// (minimum), and a violation stops `sbx up` when its policy enforces (enforce beats warn).
#include <string>
#include <vector>

#include "config/sandboxfile.h"
#include "policy/policy.h"

namespace sbx::policy {

/// What in the Sandboxfile a violation or constraint is about.
enum class ItemKind { file, image, resources, mount, egress_rule, egress, secret, agent, docker };

struct Item {
  ItemKind kind = ItemKind::file;
  size_t index = 0;  // into mounts, egress.allow or secrets
  bool operator==(const Item&) const = default;
};

/// One rule of one policy that a Sandboxfile breaks.
struct Violation {
  Item item;
  std::string key;           // the policy key, e.g. "mounts.deny"
  std::string message;       // what is wrong, in the Sandboxfile's terms
  std::string fix;           // how to make the Sandboxfile comply
  Location sandboxfile_at;   // what it hits
  Location policy_at;        // the rule it breaks
  std::string policy;        // the policy's name
  Enforcement enforcement = Enforcement::enforce;
};

/// A rule that applied to an item and held (for `sbx plan`).
struct Constraint {
  Item item;
  std::string what;          // e.g. "read-only required (mounts.read_only \"~/src\")"
  Location policy_at;
  std::string policy;
};

/// Everything the policies say about one Sandboxfile.
struct Report {
  std::vector<Violation> violations;
  std::vector<Constraint> constraints;
  /// Whether a violation of an enforcing policy is among them (sbx up and validate stop).
  bool blocked() const;
};

/// Check `file` against every policy. Mount sources are resolved (symlinks, `..`) here, so a
/// link that points at a denied directory is caught whatever the loader or mount check did.
Report check(const config::Sandboxfile& file, const std::vector<Policy>& policies);

namespace detail {
/// The per-area checks check() runs for one policy; each appends to `report`.
void check_images(const config::Sandboxfile& file, const Policy& p, Report& report);
void check_mounts(const config::Sandboxfile& file, const Policy& p, Report& report);
void check_egress(const config::Sandboxfile& file, const Policy& p, Report& report);
void check_secrets(const config::Sandboxfile& file, const Policy& p, Report& report);
void check_limits(const config::Sandboxfile& file, const Policy& p, Report& report);
/// A violation of `p` with its policy fields filled in.
Violation violation(const Policy& p, Item item, std::string key, Location policy_at, Location sandboxfile_at,
                    std::string message, std::string fix);
/// A constraint of `p`.
Constraint constraint(const Policy& p, Item item, std::string what, Location policy_at);
/// `loc`, or the Sandboxfile itself when `loc` is unknown (a default that was not written).
Location or_file(const Location& loc, const config::Sandboxfile& file);
}  // namespace detail

}  // namespace sbx::policy
