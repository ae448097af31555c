#pragma once
// [docker]: where the guest's dockerd stands, read from the guest agent's "docker state: ..." lines
// on the serial console (the agent starts dockerd after READY and relays its log there).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sbx::supervisor {

/// One report of the agent: state "starting", "running" or "failed", and what it said with it.
struct DockerReport {
  std::string state;
  std::string detail;
};

/// The report in one console line, if it is one: "sbx-guest [   1.234] docker state: running (...)".
/// Only the agent's own prefix counts; dockerd's relayed lines start "sbx-guest [...] dockerd: ".
std::optional<DockerReport> parse_docker_line(std::string_view line);

/// Splits console bytes into lines (bounded) and keeps the last report.
class DockerWatch {
 public:
  /// Feed console output; true when it held a new report.
  bool feed(std::string_view bytes);
  const std::optional<DockerReport>& last() const { return last_; }

 private:
  static constexpr std::size_t kMaxLine = 2048;
  std::string line_;
  bool overlong_ = false;
  std::optional<DockerReport> last_;
};

}  // namespace sbx::supervisor
