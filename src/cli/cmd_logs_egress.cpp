#include "cli/cmd_logs_egress.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/escape.h"

namespace sbx::cli {
namespace {

std::string bytes(std::uint64_t n) {
  char buf[32];
  if (n < 1024) std::snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(n));
  else if (n < (1u << 20)) std::snprintf(buf, sizeof buf, "%.1fK", n / 1024.0);
  else std::snprintf(buf, sizeof buf, "%.1fM", n / 1048576.0);
  return buf;
}

// A column `width` wide; a longer value still gets one space so it cannot run into the next column.
std::string pad(std::string s, size_t width) {
  s.append(s.size() < width ? width - s.size() : 1, ' ');
  return s;
}

}  // namespace

std::string egress_table_header() {
  return pad("TIME", 13) + pad("DECISION", 9) + pad("METHOD", 8) + pad("HOST:PORT", 36) + pad("RULE", 20) +
         pad("UP/DOWN", 14) + "MS";
}

std::string format_egress_line(std::string_view line) {
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("decision")) return text::escape_for_terminal(line);
  // Hosts, methods and reasons come from the guest's requests: escaped for the terminal.
  auto str = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? text::escape_for_terminal(j[k].get<std::string>()) : std::string();
  };
  auto num = [&](const char* k) -> std::uint64_t { return j.contains(k) && j[k].is_number_unsigned() ? j[k].get<std::uint64_t>() : 0; };
  std::string time = str("time");
  if (const auto t = time.find('T'); t != std::string::npos) time = time.substr(t + 1, 12);  // HH:MM:SS.mmm
  std::string decision = str("decision");
  if (j.value("learned", false)) decision = "learned";
  const std::string host = str("host") + ":" + std::to_string(num("port"));
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.1f", j.contains("duration_ms") && j["duration_ms"].is_number() ? j["duration_ms"].get<double>() : 0.0);
  std::string row = pad(time, 13) + pad(decision, 9) + pad(str("method"), 8) + pad(host, 36) + pad(str("rule"), 20) +
                    pad(bytes(num("bytes_up")) + "/" + bytes(num("bytes_down")), 14) + ms;
  if (decision != "allow") {
    if (const auto reason = str("reason"); !reason.empty()) row += "\n    why: " + reason;
    if (const auto fix = str("fix"); !fix.empty()) row += "\n    fix: add to [egress] in the Sandboxfile: " + fix;
  }
  // What a `warn` policy's ceiling or deny list would have refused (the connection passed).
  if (j.contains("policy_warnings") && j["policy_warnings"].is_array())
    for (const auto& w : j["policy_warnings"])
      if (w.is_string()) row += "\n    policy: " + text::escape_for_terminal(w.get<std::string>());
  return row;
}

}  // namespace sbx::cli
