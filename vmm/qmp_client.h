#pragma once
// A small blocking QMP client: the greeting, qmp_capabilities, then one command at a time.
#include <chrono>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "vmm/unix_socket.h"

namespace sbx::vmm {

class QmpClient {
 public:
  /// Connect to `socket`, read the greeting and negotiate capabilities within `timeout`.
  static Result<QmpClient> connect(const std::filesystem::path& socket, std::chrono::milliseconds timeout);

  /// Run `command` (with optional arguments) and return its "return" member; events are skipped.
  Result<nlohmann::json> execute(const std::string& command, std::chrono::milliseconds timeout);

  /// ACPI power button.
  Result<void> system_powerdown();
  /// "running", "paused", "shutdown", ...
  Result<std::string> query_status();
  /// Ask QEMU to exit now.
  Result<void> quit();

  int fd() const { return fd_.get(); }

 private:
  explicit QmpClient(Fd fd) : fd_(std::move(fd)) {}
  Result<nlohmann::json> read_message(std::chrono::steady_clock::time_point deadline);
  Fd fd_;
  std::string buffer_;
};

}  // namespace sbx::vmm
