#include "cli/cmd_up_approval.h"

#include <iostream>
#include <unistd.h>

#include "common/escape.h"
#include "common/text.h"
#include "policy/discovery.h"

namespace sbx::cli {
namespace {

std::string diff_text(const std::vector<reconcile::Change>& changes, bool widening_only) {
  std::string s;
  for (const auto& c : changes)
    if (c.widens || !widening_only) s += "    " + text::escape_for_terminal(c.line) + "\n";
  return s;
}

// "y" or "yes" on stdin after the question on stderr (both terminals).
bool ask_yes(const std::string& question) {
  std::cerr << "sbx: " << question << " [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace

Result<ApprovalOutcome> approve_grants(const config::Sandboxfile& file, bool yes, const Output& out) {
  const auto policies = SBX_TRY(policy::discover_policies());
  const reconcile::Grants desired = reconcile::grants_of(file, SBX_TRY(reconcile::policy_grants(policies)));
  ApprovalOutcome o;
  const auto record = reconcile::approval_record_path(file.file);
  o.record = record.string();
  const auto approved = SBX_TRY(reconcile::read_approval(record));
  const bool first = !approved;
  // A first up is measured against the baseline, later ones against what was approved.
  const reconcile::Grants base = first ? reconcile::baseline_grants(file, desired.policies) : *approved;
  o.changes = reconcile::compare(base, desired);
  const bool widens = reconcile::any_widens(o.changes);
  const bool terminal = !out.json() && ::isatty(0) && ::isatty(2);
  const std::string name = "sandbox '" + file.name + "'";
  if (!widens) {
    o.how = first ? "baseline" : o.changes.empty() ? "unchanged" : "narrowed";
    if (!first && !o.changes.empty())
      out.note(name + ": the Sandboxfile grants less than before; applying:\n" + diff_text(o.changes, false));
  } else if (yes) {
    o.how = "yes";
    out.note(name + ": --yes approves these new grants:\n" + diff_text(o.changes, true));
  } else if (terminal) {
    std::cerr << "sbx: " << file.file.string() << " grants "
              << (first ? "more than a new sandbox gets by default" : "more than you last approved") << ":\n"
              << diff_text(o.changes, !first ? false : true) << std::flush;
    if (!ask_yes("apply these grants?"))
      return fail(ErrorCode::permission, name + ": the new grants were not approved; nothing was changed",
                  "edit " + file.file.string() + " back, or run 'sbx up' again and answer y");
    o.how = "terminal";
  } else if (first) {
    o.how = "first-up";  // no one to ask: applied as written, and any later growth needs --yes
  } else {
    return fail(ErrorCode::permission,
                file.file.string() + " grants more than you last approved for " + name +
                    " (the sandbox may have rewritten it):\n" + diff_text(o.changes, false),
                "review the Sandboxfile; to approve these grants, run 'sbx up --yes' (or 'sbx up' on a terminal)");
  }
  if (first || !o.changes.empty()) SBX_TRY_VOID(reconcile::write_approval(record, file.file, desired));
  return o;
}

}  // namespace sbx::cli
