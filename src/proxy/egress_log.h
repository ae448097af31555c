#pragma once
// The egress log: one JSON line per decision, appended to a file (`sbx logs --egress` reads it).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <istream>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"

namespace sbx::proxy {

/// One decision on one connection or request, with what flowed through it.
struct DecisionRecord {
  std::chrono::system_clock::time_point time;
  std::string method;    // "CONNECT", "GET", ...
  std::string host;
  std::uint16_t port = 0;
  std::string address;   // the address connected to (or refused), "" when none
  bool allowed = false;
  bool learned = false;  // learn mode: the rules would have refused this, it was let through
  bool pinned = false;   // the host's addresses came from a pin (SBX_EGRESS_RESOLVE), not DNS
  std::string rule;      // "Sandboxfile:12" or "default"
  std::string rule_text; // the rule as written, "" for the default
  std::string reason;
  std::string fix;       // the Sandboxfile line that would allow it ("" when none)
  bool by_policy = false;  // refused by an organisation policy (its ceiling or deny list), not the Sandboxfile
  std::string policy;      // that policy's name ("" when the policies could not be loaded)
  std::vector<std::string> policy_warnings;  // what `warn` policies would have refused
  int status = 0;        // HTTP status the proxy answered (200 for tunnels, 0 when it only relayed)
  bool intercepted = false;
  std::uint64_t bytes_up = 0;    // client to upstream
  std::uint64_t bytes_down = 0;  // upstream to client
  double duration_ms = 0;
};

/// Appends decision records as JSON lines; thread-safe. Without a file it writes nothing.
class EgressLog {
 public:
  /// Open (create, append, 0600) `file`; an empty path disables the log.
  static Result<std::unique_ptr<EgressLog>> open(const std::filesystem::path& file);
  ~EgressLog();
  void write(const DecisionRecord& r);

 private:
  std::mutex mu_;
  int fd_ = -1;
};

/// The JSON line of a record (no trailing newline).
std::string to_json_line(const DecisionRecord& r);

/// The lines of an egress log that explain a failure: refusals (the rules, a policy, the SSRF
/// defence, an upstream that could not be reached) and requests answered with an HTTP error
/// (status 400 or more). At most `max` of them, the last ones, each cut to 400 bytes; lines
/// that are not JSON objects are skipped (the guest cannot write this file, but a torn tail can).
std::vector<std::string> failure_lines(std::istream& log, std::size_t max);

}  // namespace sbx::proxy
