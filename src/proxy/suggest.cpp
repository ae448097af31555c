#include "proxy/suggest.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "proxy/address.h"
#include "proxy/rules.h"

namespace sbx::proxy {
namespace {

// The registrable part of a name, approximated as its last two labels (three when the
// second-level label is a typical public suffix such as co.uk or com.au).
std::string domain_of(const std::string& host) {
  std::vector<size_t> dots;
  for (size_t i = 0; i < host.size(); ++i)
    if (host[i] == '.') dots.push_back(i);
  if (dots.size() < 1) return host;
  size_t keep = 2;
  const std::string sld = host.substr(dots.size() >= 2 ? dots[dots.size() - 2] + 1 : 0,
                                      dots.back() - (dots.size() >= 2 ? dots[dots.size() - 2] + 1 : 0));
  static const std::set<std::string> kSecond = {"co", "com", "net", "org", "ac", "gov", "edu"};
  if (host.size() - dots.back() - 1 == 2 && kSecond.contains(sld)) keep = 3;
  if (dots.size() < keep) return host;
  return host.substr(dots[dots.size() - keep] + 1);
}

std::string ports_suffix(const std::set<std::uint16_t>& ports) {
  if (std::all_of(ports.begin(), ports.end(), [](std::uint16_t p) { return p == 80 || p == 443; })) return "";
  std::string s = ":";
  bool first = true;
  for (auto p : ports) {
    s += (first ? "" : ",") + std::to_string(p);
    first = false;
  }
  return s;
}

std::string quote_list(const std::vector<SuggestedRule>& rules, const std::string& indent, bool multiline) {
  std::string out;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (multiline) out += indent + "\"" + rules[i].text + "\",\n";
    else out += (i ? ", " : "") + std::string("\"") + rules[i].text + "\"";
  }
  return out;
}

}  // namespace

Result<std::vector<SuggestedRule>> suggest_rules(std::istream& log, const config::Egress& existing) {
  auto compiled = RuleSet::compile(existing);
  if (!compiled) return std::unexpected(compiled.error());
  std::map<std::string, std::set<std::uint16_t>> hosts;  // host -> ports
  std::string line;
  int lineno = 0;
  while (std::getline(log, line)) {
    ++lineno;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return fail(ErrorCode::invalid, "line " + std::to_string(lineno) + " of the egress log is not JSON",
                  "pass the egress log written by 'sbx proxy --log' or the sandbox");
    const bool learned = j.value("learned", false);
    const bool denied = j.value("decision", "") == "deny";
    const std::string fix = j.value("fix", "");
    if (!learned && !(denied && !fix.empty())) continue;
    if (fix.find('/') != std::string::npos) continue;  // SSRF: a CIDR is a person's decision
    const std::string host = j.value("host", "");
    const int port = j.value("port", 0);
    std::string norm;
    if (port <= 0 || port > 65535 || !normalise_host(host, norm) || IpAddress::parse(norm)) continue;
    const auto p = static_cast<std::uint16_t>(port);
    if ((*compiled)->decide_host(norm, p).allowed) continue;
    hosts[norm].insert(p);
  }
  // Group by domain: two or more distinct subdomains become one wildcard.
  std::map<std::string, std::vector<std::string>> by_domain;
  for (const auto& [h, ports] : hosts) by_domain[domain_of(h)].push_back(h);
  std::vector<SuggestedRule> out;
  for (const auto& [domain, list] : by_domain) {
    std::vector<std::string> subs;
    for (const auto& h : list)
      if (h != domain) subs.push_back(h);
    if (subs.size() >= 2) {
      std::set<std::uint16_t> ports;
      for (const auto& h : subs) ports.insert(hosts[h].begin(), hosts[h].end());
      out.push_back({"*." + domain + ports_suffix(ports), subs});
      if (hosts.contains(domain)) out.push_back({domain + ports_suffix(hosts[domain]), {domain}});
    } else {
      for (const auto& h : list) out.push_back({h + ports_suffix(hosts[h]), {h}});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.text < b.text; });
  return out;
}

std::string suggestion_diff(const std::string& text, const std::string& name, const std::vector<SuggestedRule>& rules) {
  if (rules.empty()) return "";
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    std::string l;
    while (std::getline(in, l)) lines.push_back(l);
  }
  auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t\r") + 1);
    return s;
  };
  // Find [egress] and its allow key.
  size_t egress = lines.size(), allow = lines.size(), section_end = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string t = trim(lines[i]);
    if (t == "[egress]") {
      egress = i;
      continue;
    }
    if (egress != lines.size() && i > egress && !t.empty() && t[0] == '[' && section_end == lines.size()) section_end = i;
    if (egress != lines.size() && i > egress && section_end == lines.size() && t.rfind("allow", 0) == 0 &&
        t.find('=') != std::string::npos && trim(t.substr(0, t.find('='))) == "allow")
      allow = i;
  }
  size_t from = 0, to = 0;  // replace lines [from, to) with `repl`
  std::vector<std::string> repl;
  if (allow != lines.size()) {
    const std::string& l = lines[allow];
    const auto close = l.rfind(']');
    if (close != std::string::npos && l.find('[') != std::string::npos && l.find('[') < close) {
      // one-line array
      const std::string inner = trim(l.substr(l.find('[') + 1, close - l.find('[') - 1));
      std::string merged = l.substr(0, l.find('[') + 1) + inner + (inner.empty() || inner.back() == ',' ? "" : ", ") +
                           quote_list(rules, "", false) + l.substr(close);
      from = allow;
      to = allow + 1;
      repl = {merged};
    } else {
      // multi-line array: insert before the line holding the closing bracket
      size_t end = allow + 1;
      while (end < lines.size() && trim(lines[end]).find(']') != 0) ++end;
      from = to = end;
      // The element before ']' needs a comma before new ones follow it.
      if (end > allow + 1) {
        const std::string prev = trim(lines[end - 1]);
        if (!prev.empty() && prev.back() != ',' && prev[0] != '#') {
          from = end - 1;
          repl.push_back(lines[end - 1] + ",");
        }
      }
      std::istringstream in(quote_list(rules, "  ", true));
      std::string r;
      while (std::getline(in, r)) repl.push_back(r);
    }
  } else if (egress != lines.size()) {
    from = to = egress + 1;
    repl = {"allow = [" + quote_list(rules, "", false) + "]"};
  } else {
    from = to = lines.size();
    repl = {"", "[egress]", "allow = [" + quote_list(rules, "", false) + "]"};
  }
  // One hunk with three lines of context.
  const size_t ctx_a = from >= 3 ? from - 3 : 0;
  const size_t ctx_b = std::min(lines.size(), to + 3);
  std::ostringstream d;
  d << "--- a/" << name << "\n+++ b/" << name << "\n";
  const size_t old_n = ctx_b - ctx_a;
  const size_t new_n = old_n - (to - from) + repl.size();
  d << "@@ -" << (old_n ? ctx_a + 1 : ctx_a) << "," << old_n << " +" << (new_n ? ctx_a + 1 : ctx_a) << "," << new_n << " @@\n";
  for (size_t i = ctx_a; i < from; ++i) d << " " << lines[i] << "\n";
  for (size_t i = from; i < to; ++i) d << "-" << lines[i] << "\n";
  for (const auto& r : repl) d << "+" << r << "\n";
  for (size_t i = to; i < ctx_b; ++i) d << " " << lines[i] << "\n";
  return d.str();
}

}  // namespace sbx::proxy
