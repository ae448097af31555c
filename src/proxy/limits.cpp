#include "proxy/limits.h"

namespace sbx::proxy {

namespace {

std::string where(const Location& l) {
  std::string s = l.file;
  if (l.line > 0) s += ":" + std::to_string(l.line);
  return s.empty() ? "policy" : s;
}

// Why a ceiling's rule set did not take (host, port), in the ceiling's own words.
std::string outside_why(const RuleSet& rules, const Verdict& v, std::uint16_t port) {
  switch (v.reason) {
    case Reason::port_not_allowed:
      return "ceiling rule '" + rules.rule(v).text + "' covers the host but not port " + std::to_string(port);
    case Reason::literal_not_allowed: return "the ceiling names no address range that holds this address";
    case Reason::special_address:
      return "it resolves to an address in " + std::string(v.range) + ", for which the ceiling names no address range";
    case Reason::engine_error: return "the rule engine failed (refused to be safe)";
    default: return "no ceiling rule matches it";
  }
}

}  // namespace

Result<std::shared_ptr<const CompiledLimits>> CompiledLimits::compile(const Limits& limits) {
  auto out = std::shared_ptr<CompiledLimits>(new CompiledLimits());
  out->broken_ = limits.broken;
  for (const PolicyLimit& p : limits.policies) {
    if (!p.has_ceiling && p.deny.empty()) continue;
    config::Egress e;
    if (p.has_ceiling) e.allow = p.ceiling;
    e.deny = p.deny;
    auto rules = RuleSet::compile(e);
    if (!rules) {
      Error err = rules.error();
      err.message = "policy '" + p.name + "': " + err.message;
      return std::unexpected(err);
    }
    out->layers_.push_back({p, *rules});
  }
  return std::shared_ptr<const CompiledLimits>(std::move(out));
}

size_t CompiledLimits::ceilings() const {
  size_t n = 0;
  for (const auto& l : layers_) n += l.limit.has_ceiling;
  return n;
}

size_t CompiledLimits::deny_rules() const {
  size_t n = 0;
  for (const auto& l : layers_) n += l.limit.deny.size();
  return n;
}

template <class Decide>
LimitVerdict CompiledLimits::decide(std::string_view host, std::uint16_t port, Decide&& d) const {
  LimitVerdict out;
  const std::string hp = std::string(host) + ":" + std::to_string(port);
  if (!broken_.empty()) {
    out.allowed = false;
    out.rule = "policy";
    out.reason = "the organisation's egress policies cannot be loaded, so every connection is refused until they are fixed: " + broken_;
    return out;
  }
  for (const Layer& layer : layers_) {
    const PolicyLimit& p = layer.limit;
    const Verdict v = d(*layer.rules);
    LimitVerdict refusal;
    refusal.allowed = false;
    refusal.policy = p.name;
    if (v.deny_list) {
      refusal.rule = layer.rules->rule_ref(v);
      refusal.rule_text = layer.rules->rule(v).text;
      refusal.reason = hp + " is always denied by policy '" + p.name + "' (deny rule '" + refusal.rule_text + "')";
    } else if (v.reason == Reason::engine_error || (p.has_ceiling && !v.allowed)) {
      refusal.rule = where(p.ceiling_at);
      refusal.rule_text = "egress.ceiling of policy '" + p.name + "'";
      refusal.reason = hp + " is outside the egress ceiling of policy '" + p.name + "': " + outside_why(*layer.rules, v, port);
    } else {
      continue;
    }
    if (p.enforce) return refusal;
    out.warnings.push_back("policy '" + p.name + "' (warn) would refuse this (" + refusal.rule + "): " + refusal.reason);
  }
  return out;
}

LimitVerdict CompiledLimits::decide_host(std::string_view host, std::uint16_t port) const {
  return decide(host, port, [&](const RuleSet& r) { return r.decide_host(host, port); });
}

LimitVerdict CompiledLimits::decide_address(std::string_view host, const IpAddress& a, std::uint16_t port, bool literal) const {
  return decide(host, port, [&](const RuleSet& r) { return r.decide_address(a, port, literal); });
}

}  // namespace sbx::proxy
