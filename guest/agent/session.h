#pragma once
// The guest end of the channel: one poll() loop over the port, the proxy listener, the
// signalfd and every stream's fds. Speaks first (HELLO) on every host connection.
#include <memory>
#include <string>

#include "guest/protocol/messages.h"

namespace sbx::guest::agent {

/// Runs the channel forever as PID 1.
class Session {
 public:
  Session(std::string port_path, protocol::BootTiming timing, int signal_fd);
  ~Session();
  [[noreturn]] void run();

 private:
  struct Impl;  // guest/agent/session_impl.h
  std::unique_ptr<Impl> impl_;
};

}  // namespace sbx::guest::agent
