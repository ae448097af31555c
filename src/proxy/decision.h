#pragma once
// Internal: from a Policy to a decision a client can read. Compiling the rules and secret
// bindings, learn mode, the record lines that explain a verdict, and the proxy's own answers
// (the 403 body that names the rule and the fix, the plain error responses).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "proxy/egress_log.h"
#include "proxy/limits.h"
#include "proxy/proxy.h"
#include "proxy/rules.h"

namespace sbx::proxy {

/// Rules and secret bindings compiled from one Policy.
struct CompiledPolicy {
  std::shared_ptr<const RuleSet> rules;
  std::unordered_map<std::string, std::vector<config::Secret>> inject;  // host -> header bindings
  std::filesystem::path file;
  PinTable pins;  // pinned names: their addresses are used as the resolver's answer
  std::shared_ptr<const CompiledLimits> limits;  // the organisation's ceilings and deny lists; null: none
};

/// Compile a Policy: its egress rules and, per normalised host, the header secrets bound to it.
Result<std::shared_ptr<const CompiledPolicy>> compile_policy(const Policy& p);

/// Whether learn mode may let this refusal through (rule refusals; never SSRF or bad hosts).
bool learnable(const Verdict& v);

/// Set the rule, rule text and reason of `rec` from `v` (the one place these lines are written).
void explain(DecisionRecord& rec, const RuleSet& rules, const Verdict& v, std::string_view host, std::uint16_t port);

/// Apply the limits' verdict `lv` on a connection the Sandboxfile allowed to `rec`: a refusal
/// replaces its rule and reason (returns false), a pass adds what `warn` policies would refuse.
bool apply_limits(DecisionRecord& rec, const LimitVerdict& lv);

/// The body of a 403 for the refusal `rec` (reason, rule, fix line under `policy_file`).
std::string refusal_body(const DecisionRecord& rec, const std::filesystem::path& policy_file);

/// The reason phrase of the statuses the proxy answers with ("Error" for others).
std::string status_text(int status);

/// A complete response from the proxy itself (plain text, closes the connection, not cached).
std::string error_response(int status, const std::string& body);

}  // namespace sbx::proxy
