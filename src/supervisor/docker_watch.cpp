#include "supervisor/docker_watch.h"

namespace sbx::supervisor {

std::optional<DockerReport> parse_docker_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  constexpr std::string_view kPrefix = "sbx-guest [", kMarker = "] docker state: ";
  if (!line.starts_with(kPrefix)) return std::nullopt;
  const auto close = line.find(']');
  if (close == std::string_view::npos || line.compare(close, kMarker.size(), kMarker) != 0) return std::nullopt;
  // The uptime between the brackets: digits, spaces and one dot, as console.cpp writes it.
  for (char c : line.substr(kPrefix.size(), close - kPrefix.size()))
    if (!(c == ' ' || c == '.' || (c >= '0' && c <= '9'))) return std::nullopt;
  std::string_view rest = line.substr(close + kMarker.size());
  for (std::string_view state : {"starting", "running", "failed"}) {
    if (!rest.starts_with(state)) continue;
    std::string_view detail = rest.substr(state.size());
    if (!detail.empty() && detail.front() != ' ' && detail.front() != ':') continue;
    while (!detail.empty() && (detail.front() == ' ' || detail.front() == ':')) detail.remove_prefix(1);
    if (detail.size() >= 2 && detail.front() == '(' && detail.back() == ')') detail = detail.substr(1, detail.size() - 2);
    return DockerReport{std::string(state), std::string(detail)};
  }
  return std::nullopt;
}

bool DockerWatch::feed(std::string_view bytes) {
  bool changed = false;
  for (char c : bytes) {
    if (c != '\n') {
      if (line_.size() < kMaxLine) line_.push_back(c);
      else overlong_ = true;
      continue;
    }
    if (!overlong_)
      if (auto r = parse_docker_line(line_)) {
        last_ = std::move(*r);
        changed = true;
      }
    line_.clear();
    overlong_ = false;
  }
  return changed;
}

}  // namespace sbx::supervisor
