// sbx egress suggest: turn the egress log into the smallest set of allow rules, as a diff.
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/output.h"
#include "config/loader.h"
#include "proxy/suggest.h"

namespace sbx::cli {
namespace {

int run_suggest(const Args& a) {
  const Output out = Output::for_args(a);
  const auto log_path = a.value("log").value_or("egress.jsonl");
  std::ifstream log(log_path);
  if (!log)
    return out.error(make_error(ErrorCode::not_found, "cannot read the egress log " + log_path,
                             "pass --log FILE (written by 'sbx proxy --log FILE' or the sandbox)"));
  config::Egress existing;
  std::string text, name = "Sandboxfile";
  const auto sf_path = a.value("sandboxfile");
  if (sf_path) {
    auto sf = config::load_file(*sf_path);
    if (!sf) return out.error(sf.error());
    existing = sf->egress;
    std::ifstream in(sf->file);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    name = sf->file.filename().string();
  }
  auto rules = proxy::suggest_rules(log, existing);
  if (!rules) return out.error(rules.error());
  if (rules->empty()) {
    std::cerr << "sbx egress suggest: nothing to add: every connection in " << log_path << " is already allowed\n";
    return 0;
  }
  std::cout << proxy::suggestion_diff(text, name, *rules);
  std::cerr << "sbx egress suggest: " << rules->size() << " rule(s) cover the refused connections; review, then apply with 'patch -p1'\n";
  return 0;
}

}  // namespace

const CommandSpec kEgressSuggestCommand{
    "egress suggest",
    "Suggest the allow rules that the egress log shows are missing",
    "sbx egress suggest [--log FILE] [--sandboxfile PATH]",
    R"(Reads the egress log (one JSON line per decision) and prints, as a unified diff of the
Sandboxfile, the smallest set of allow rules that would have let through every connection
the rules refused (or, in learn mode, would have refused): exact hosts, and one wildcard
("*.example.com") where two or more subdomains of a domain appeared. Ports other than 80
and 443 are kept. Connections refused by the SSRF defence (private, loopback or metadata
addresses, IP literals) are never suggested: allowing those takes a CIDR rule a person
chooses. Hosts the Sandboxfile already allows are skipped.

Typical use: run with [egress] mode = "learn" (or 'sbx proxy --learn'), exercise the
agent, then review and apply the diff.

EXIT STATUS
    0 a diff was printed or nothing is missing; 1 the log or the Sandboxfile cannot be read; 2 usage.

EXAMPLES
    sbx egress suggest --log egress.jsonl --sandboxfile Sandboxfile
    sbx egress suggest --log egress.jsonl --sandboxfile Sandboxfile | patch -p1)",
    {
        {"log", 0, "FILE", "The egress log to read (default: egress.jsonl)."},
        {"sandboxfile", 'f', "PATH", "The Sandboxfile to diff against (default: print rules for a new [egress] table)."},
    },
    0,
    0,
    false,
    run_suggest,
};

}  // namespace sbx::cli
