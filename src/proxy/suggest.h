#pragma once
// Learning mode's second half: turn the egress log into the smallest set of allow rules
// (exact hosts, a wildcard where several subdomains of one domain appeared) and show it as a
// unified diff of the Sandboxfile.
#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::proxy {

/// A rule to add, as the Sandboxfile writes it ("api.github.com", "*.npmjs.org:443,8443").
struct SuggestedRule {
  std::string text;
  std::vector<std::string> seen;  // the hosts it covers
};

/// Read JSON lines from `log` and return the rules that would have let every refused (or, in
/// learn mode, would-be-refused) connection through, skipping what `existing` already allows
/// and anything the SSRF defence refused (those need a CIDR rule, chosen by a person).
Result<std::vector<SuggestedRule>> suggest_rules(std::istream& log, const config::Egress& existing);

/// A unified diff that adds `rules` to the [egress] allow list of `text` (a Sandboxfile named
/// `name`); "" when there is nothing to add.
std::string suggestion_diff(const std::string& text, const std::string& name, const std::vector<SuggestedRule>& rules);

}  // namespace sbx::proxy
