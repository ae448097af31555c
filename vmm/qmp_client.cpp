#include "vmm/qmp_client.h"

#include <cerrno>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace sbx::vmm {
namespace json = nlohmann;
using namespace std::chrono;

Result<QmpClient> QmpClient::connect(const std::filesystem::path& socket, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  auto fd = SBX_TRY(connect_unix_retry(socket, timeout));
  QmpClient c(std::move(fd));
  auto greeting = SBX_TRY(c.read_message(deadline));
  if (!greeting.contains("QMP"))
    return fail(ErrorCode::runtime, "unexpected QMP greeting: " + greeting.dump());
  const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
  SBX_TRY_VOID(c.execute("qmp_capabilities", std::max(left, milliseconds(100))));
  return c;
}

Result<json::json> QmpClient::read_message(steady_clock::time_point deadline) {
  for (;;) {
    const auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      auto j = json::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        return fail(ErrorCode::runtime, "malformed QMP message from QEMU");
      return j;
    }
    if (buffer_.size() > (1u << 20)) return fail(ErrorCode::runtime, "QMP message too large");
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0 || !wait_readable(fd_.get(), left))
      return fail(ErrorCode::runtime, "QEMU's QMP socket did not answer in time");
    char buf[4096];
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrorCode::runtime, "QEMU closed its QMP socket");
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

Result<json::json> QmpClient::execute(const std::string& command, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  const std::string req = json::json{{"execute", command}}.dump() + "\n";
  if (!write_all(fd_.get(), req)) return fail(ErrorCode::runtime, "cannot write to QEMU's QMP socket");
  for (;;) {
    auto msg = SBX_TRY(read_message(deadline));
    if (msg.contains("event")) continue;
    if (msg.contains("error")) {
      const auto& e = msg["error"];
      return fail(ErrorCode::runtime,
                  "QMP " + command + " failed: " + e.value("desc", std::string("unknown error")));
    }
    if (msg.contains("return")) return msg["return"];
  }
}

Result<void> QmpClient::system_powerdown() {
  SBX_TRY_VOID(execute("system_powerdown", seconds(2)));
  return {};
}

Result<std::string> QmpClient::query_status() {
  auto r = SBX_TRY(execute("query-status", seconds(2)));
  if (!r.is_object() || !r.contains("status") || !r["status"].is_string())
    return fail(ErrorCode::runtime, "malformed query-status answer");
  return r["status"].get<std::string>();
}

Result<void> QmpClient::quit() {
  SBX_TRY_VOID(execute("quit", seconds(2)));
  return {};
}

}  // namespace sbx::vmm
