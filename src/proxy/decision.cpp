#include "proxy/decision.h"

#include <algorithm>

namespace sbx::proxy {

Result<std::shared_ptr<const CompiledPolicy>> compile_policy(const Policy& p) {
  auto c = std::make_shared<CompiledPolicy>();
  c->rules = SBX_TRY(RuleSet::compile(p.egress));
  c->file = p.file;
  c->pins = pin_table(p.pins);
  for (const auto& s : p.secrets) {
    if (s.inject != config::InjectKind::header) continue;
    for (const auto& h : s.hosts) {
      std::string host;
      if (!normalise_host(h, host))
        return fail(ErrorCode::invalid, "secret '" + s.name + "' names an invalid host '" + h + "'", "", s.location);
      c->inject[host].push_back(s);
    }
  }
  return std::shared_ptr<const CompiledPolicy>(std::move(c));
}

bool learnable(const Verdict& v) {
  return v.reason == Reason::not_allowed || v.reason == Reason::port_not_allowed || v.reason == Reason::denied_rule;
}

void explain(DecisionRecord& rec, const RuleSet& rules, const Verdict& v, std::string_view host, std::uint16_t port) {
  rec.rule = rules.rule_ref(v);
  rec.rule_text = v.rule >= 0 ? rules.rule(v).text : "";
  rec.reason = rules.explain(v, host, port);
}

bool apply_limits(DecisionRecord& rec, const LimitVerdict& lv) {
  for (const auto& w : lv.warnings)
    if (std::find(rec.policy_warnings.begin(), rec.policy_warnings.end(), w) == rec.policy_warnings.end())
      rec.policy_warnings.push_back(w);
  if (lv.allowed) return true;
  rec.learned = false;
  rec.by_policy = true;
  rec.policy = lv.policy;
  rec.rule = lv.rule;
  rec.rule_text = lv.rule_text;
  rec.reason = lv.reason;
  rec.fix.clear();
  return false;
}

std::string refusal_body(const DecisionRecord& rec, const std::filesystem::path& policy_file) {
  std::string body = "sbx egress proxy: refused " + rec.host + ":" + std::to_string(rec.port) + "\n";
  body += "reason: " + rec.reason + "\n";
  body += "rule: " + rec.rule + (rec.rule_text.empty() ? "" : " (" + rec.rule_text + ")") + "\n";
  if (rec.by_policy)
    body += "this limit is set by an organisation policy, not the Sandboxfile, which cannot widen it "
            "('sbx policy ls' lists the policies; their owner can change them)\n";
  if (!rec.fix.empty()) {
    const std::string file = policy_file.empty() ? "the Sandboxfile" : policy_file.string();
    body += "to allow it, add this line under [egress] in " + file +
            " (merge it into an existing allow list; 'sbx egress suggest' prints the diff):\n    " + rec.fix + "\n";
  }
  return body;
}

std::string status_text(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

std::string error_response(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + status_text(status) +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\nCache-Control: no-store\r\nX-Sbx-Proxy: " + std::to_string(status) + "\r\n\r\n" + body;
}

}  // namespace sbx::proxy
