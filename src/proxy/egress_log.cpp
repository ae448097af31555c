#include "proxy/egress_log.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace sbx::proxy {

std::string to_json_line(const DecisionRecord& r) {
  const auto t = std::chrono::system_clock::to_time_t(r.time);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.time.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[80];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  nlohmann::json j = {
      {"time", ts},
      {"method", r.method},
      {"host", r.host},
      {"port", r.port},
      {"address", r.address},
      {"decision", r.allowed ? "allow" : "deny"},
      {"rule", r.rule},
      {"rule_text", r.rule_text},
      {"reason", r.reason},
      {"status", r.status},
      {"intercepted", r.intercepted},
      {"bytes_up", r.bytes_up},
      {"bytes_down", r.bytes_down},
      {"duration_ms", static_cast<double>(static_cast<std::int64_t>(r.duration_ms * 1000)) / 1000.0},
  };
  if (r.learned) j["learned"] = true;
  if (r.pinned) j["pinned"] = true;
  if (!r.fix.empty()) j["fix"] = r.fix;
  if (r.by_policy) j["policy"] = r.policy.empty() ? "(unloadable)" : r.policy;
  if (!r.policy_warnings.empty()) j["policy_warnings"] = r.policy_warnings;
  // Hostile input (hosts, reasons) may hold invalid UTF-8: replace rather than throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::unique_ptr<EgressLog>> EgressLog::open(const std::filesystem::path& file) {
  auto log = std::make_unique<EgressLog>();
  if (file.empty()) return log;
  log->fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log->fd_ < 0)
    return fail(ErrorCode::io, "cannot open egress log " + file.string() + ": " + std::strerror(errno),
                "check that the directory exists and is writable");
  return log;
}

EgressLog::~EgressLog() {
  if (fd_ >= 0) ::close(fd_);
}

void EgressLog::write(const DecisionRecord& r) {
  if (fd_ < 0) return;
  std::string line = to_json_line(r);
  line += '\n';
  std::lock_guard lock(mu_);
  // One write per line with O_APPEND keeps lines whole even with several writers.
  size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::vector<std::string> failure_lines(std::istream& log, std::size_t max) {
  std::deque<std::string> kept;
  for (std::string l; std::getline(log, l);) {
    const auto j = nlohmann::json::parse(l, nullptr, false);
    if (!j.is_object()) continue;
    const auto status = j.find("status");
    const bool http_error = status != j.end() && status->is_number_integer() && status->get<std::int64_t>() >= 400;
    const auto decision = j.find("decision");
    const bool allowed = decision != j.end() && decision->is_string() && decision->get<std::string>() == "allow";
    if (allowed && !http_error) continue;
    kept.push_back(l.substr(0, 400));
    if (kept.size() > max) kept.pop_front();
  }
  return {kept.begin(), kept.end()};
}

}  // namespace sbx::proxy
