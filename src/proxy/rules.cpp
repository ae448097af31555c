#include "proxy/rules.h"

#include <algorithm>

#include <re2/re2.h>
#include <re2/set.h>

namespace sbx::proxy {
namespace {

// RE2's default 8 MiB budget makes big sets fail to compile or fall back to the slow NFA;
// shards keep each DFA small and the budget grows with the shard's size.
constexpr size_t kShardSize = 1000;
constexpr int64_t kMemPerPattern = 64 * 1024;
constexpr int64_t kMinMem = 8 << 20;

bool port_matches(const config::EgressRule& r, std::uint16_t port, bool deny) {
  if (r.ports.empty()) return deny || port == 80 || port == 443;
  return std::find(r.ports.begin(), r.ports.end(), port) != r.ports.end();
}

std::string regex_of(const config::EgressRule& r) {
  if (r.kind == config::HostPatternKind::regex) return r.pattern;
  std::string_view p = r.pattern;
  if (p.starts_with("*.")) p.remove_prefix(2);
  // Any subdomain, at any depth, but not the apex itself.
  return "[a-z0-9_-][a-z0-9_.-]*\\." + RE2::QuoteMeta(re2::StringPiece(p.data(), p.size()));
}

bool valid_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

thread_local std::vector<int> t_matches;

}  // namespace

struct RuleSet::Patterns {
  std::unordered_map<std::string, std::vector<int>> exact;
  std::vector<std::unique_ptr<RE2::Set>> sets;
  std::vector<std::vector<int>> set_rules;  // per shard: set index -> rule index
  std::vector<std::pair<Cidr, int>> cidrs;

  // Calls f(rule index) for every host-pattern rule matching `host`; f returns true to stop.
  // Returns false when the regex engine failed.
  template <class F>
  bool each_match(const std::string& host, F&& f) const {
    if (auto it = exact.find(host); it != exact.end())
      for (int i : it->second)
        if (f(i)) return true;
    for (size_t s = 0; s < sets.size(); ++s) {
      t_matches.clear();
      RE2::Set::ErrorInfo err{};
      if (!sets[s]->Match(host, &t_matches, &err)) {
        if (err.kind != RE2::Set::kNoError) return false;
        continue;
      }
      // RE2::Set reports matches in no particular order: take the earliest rule.
      std::sort(t_matches.begin(), t_matches.end());
      for (int m : t_matches)
        if (f(set_rules[s][static_cast<size_t>(m)])) return true;
    }
    return true;
  }
};

namespace {

Result<std::unique_ptr<RuleSet::Patterns>> compile_list(const std::vector<config::EgressRule>& rules) {
  auto p = std::make_unique<RuleSet::Patterns>();
  std::vector<std::pair<std::string, int>> regexes;
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& r = rules[i];
    const int idx = static_cast<int>(i);
    switch (r.kind) {
      case config::HostPatternKind::exact: {
        std::string h;
        if (!normalise_host(r.pattern, h))
          return fail(ErrorCode::invalid, "egress rule '" + r.text + "' is not a valid host name",
                      "write a DNS name such as api.example.com", r.location);
        p->exact[h].push_back(idx);
        break;
      }
      case config::HostPatternKind::wildcard:
      case config::HostPatternKind::regex:
        regexes.emplace_back(regex_of(r), idx);
        break;
      case config::HostPatternKind::cidr: {
        auto c = Cidr::parse(r.pattern);
        if (!c)
          return fail(ErrorCode::invalid, "egress rule '" + r.text + "' is not a valid CIDR range",
                      "write an address range such as 10.0.0.0/8 or fd00::/8", r.location);
        p->cidrs.emplace_back(*c, idx);
        break;
      }
    }
  }
  for (size_t start = 0; start < regexes.size(); start += kShardSize) {
    const size_t n = std::min(kShardSize, regexes.size() - start);
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_max_mem(std::max(kMinMem, static_cast<int64_t>(n) * kMemPerPattern));
    auto set = std::make_unique<RE2::Set>(opts, RE2::ANCHOR_BOTH);
    std::vector<int> map;
    for (size_t k = 0; k < n; ++k) {
      const auto& [re, idx] = regexes[start + k];
      std::string error;
      if (set->Add(re, &error) < 0) {
        const auto& r = rules[static_cast<size_t>(idx)];
        return fail(ErrorCode::invalid, "egress rule '" + r.text + "' is not a valid RE2 pattern: " + error,
                    "see https://github.com/google/re2/wiki/Syntax", r.location);
      }
      map.push_back(idx);
    }
    if (!set->Compile())
      return fail(ErrorCode::invalid,
                  "the egress rules (" + std::to_string(regexes.size()) + " patterns) are too large to compile",
                  "use exact hosts instead of regular expressions where you can");
    p->sets.push_back(std::move(set));
    p->set_rules.push_back(std::move(map));
  }
  return p;
}

}  // namespace

RuleSet::~RuleSet() = default;

bool normalise_host(std::string_view in, std::string& out) {
  if (!in.empty() && in.back() == '.') in.remove_suffix(1);
  if (in.empty() || in.size() > 253) return false;
  out.resize(in.size());
  size_t label = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (!valid_host_char(c)) return false;
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (++label > 63) {
      return false;
    }
    out[i] = c;
  }
  return label != 0;
}

std::string rule_line(std::string_view pattern, std::uint16_t port) {
  if (port == 80 || port == 443) return "allow = [\"" + std::string(pattern) + "\"]";
  return "allow = [\"" + std::string(pattern) + ":" + std::to_string(port) + "\"]";
}

Result<std::shared_ptr<const RuleSet>> RuleSet::compile(const config::Egress& egress) {
  std::shared_ptr<RuleSet> rs(new RuleSet());
  rs->learn_ = egress.mode == config::EgressMode::learn;
  rs->allow_ = egress.allow;
  rs->deny_ = egress.deny;
  rs->allow_p_ = SBX_TRY(compile_list(rs->allow_));
  rs->deny_p_ = SBX_TRY(compile_list(rs->deny_));
  return std::shared_ptr<const RuleSet>(std::move(rs));
}

Verdict RuleSet::decide_host(std::string_view raw, std::uint16_t port) const {
  thread_local std::string host;
  Verdict v;
  if (!normalise_host(raw, host)) {
    v.reason = Reason::bad_host;
    return v;
  }
  bool engine_ok = deny_p_->each_match(host, [&](int i) {
    if (!port_matches(deny_[static_cast<size_t>(i)], port, true)) return false;
    v.reason = Reason::denied_rule;
    v.deny_list = true;
    v.rule = i;
    return true;
  });
  if (!engine_ok) {
    v.reason = Reason::engine_error;
    return v;
  }
  if (v.reason == Reason::denied_rule) return v;
  int host_only = -1;
  engine_ok = allow_p_->each_match(host, [&](int i) {
    if (port_matches(allow_[static_cast<size_t>(i)], port, false)) {
      v.allowed = true;
      v.reason = Reason::allowed_rule;
      v.rule = i;
      return true;
    }
    if (host_only < 0) host_only = i;
    return false;
  });
  if (!engine_ok) return Verdict{false, Reason::engine_error, false, -1, {}};
  if (!v.allowed && host_only >= 0) {
    v.reason = Reason::port_not_allowed;
    v.rule = host_only;
  }
  return v;
}

Verdict RuleSet::decide_address(const IpAddress& a, std::uint16_t port, bool literal) const {
  Verdict v;
  for (const auto& [cidr, i] : deny_p_->cidrs)
    if (cidr.contains(a) && port_matches(deny_[static_cast<size_t>(i)], port, true))
      return Verdict{false, Reason::denied_rule, true, i, {}};
  int host_only = -1;
  for (const auto& [cidr, i] : allow_p_->cidrs) {
    if (!cidr.contains(a)) continue;
    if (port_matches(allow_[static_cast<size_t>(i)], port, false)) return Verdict{true, Reason::allowed_rule, false, i, {}};
    if (host_only < 0) host_only = i;
  }
  if (host_only >= 0) return Verdict{false, Reason::port_not_allowed, false, host_only, {}};
  if (literal) return Verdict{false, Reason::literal_not_allowed, false, -1, {}};
  if (auto range = special_range(a)) return Verdict{false, Reason::special_address, false, -1, *range};
  v.allowed = true;  // a public address of a name that its host rule allowed
  v.reason = Reason::allowed_rule;
  return v;
}

std::string RuleSet::rule_ref(const Verdict& v) const {
  if (v.rule < 0) return "default";
  const auto& r = rule(v);
  if (r.location.known()) {
    std::string s = r.location.file;
    if (r.location.line > 0) s += ":" + std::to_string(r.location.line);
    return s;
  }
  return v.deny_list ? "deny rule" : "allow rule";
}

std::string RuleSet::explain(const Verdict& v, std::string_view host, std::uint16_t port) const {
  const std::string hp = std::string(host) + ":" + std::to_string(port);
  switch (v.reason) {
    case Reason::allowed_rule: return v.rule >= 0 ? "allowed by rule '" + rule(v).text + "'" : "allowed";
    case Reason::denied_rule: return hp + " is refused by deny rule '" + rule(v).text + "'";
    case Reason::not_allowed: return hp + " matches no allow rule (egress is deny by default)";
    case Reason::port_not_allowed:
      return "rule '" + rule(v).text + "' allows the host " + std::string(host) + " but not port " +
             std::to_string(port) + (rule(v).ports.empty() ? " (without a port list a rule allows 80 and 443)" : "");
    case Reason::literal_not_allowed:
      return "connections to IP literals such as " + std::string(host) + " are refused unless a CIDR rule allows them";
    case Reason::special_address:
      return std::string(host) + " resolves to an address in " + std::string(v.range) +
             ", refused to stop server-side request forgery unless a CIDR rule allows it";
    case Reason::bad_host: return "'" + std::string(host) + "' is not a valid host name";
    case Reason::engine_error: return "the rule engine failed on " + hp + " (refused to be safe)";
  }
  return "refused";
}

std::string RuleSet::fix_line(const Verdict& v, std::string_view host, std::uint16_t port, std::string_view address) const {
  switch (v.reason) {
    case Reason::not_allowed:
    case Reason::port_not_allowed: return rule_line(host, port);
    case Reason::literal_not_allowed: {
      auto a = IpAddress::parse(host);
      return rule_line(a ? a->str() + (a->v6 ? "/128" : "/32") : std::string(host), port);
    }
    case Reason::special_address: {
      auto a = IpAddress::parse(address);
      return rule_line(a ? a->str() + (a->v6 ? "/128" : "/32") : std::string(address), port);
    }
    default: return "";
  }
}

}  // namespace sbx::proxy
