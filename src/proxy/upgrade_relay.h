#pragma once
// WebSocket on intercepted hosts: which protocol switches an intercepted request may ask for,
// and the relay of a switched connection between the guest's TLS session and the upstream's.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "proxy/http_parser.h"

struct ssl_st;

namespace sbx::proxy {

/// What an intercepted request asks for in the way of a protocol switch.
struct UpgradeCheck {
  enum Kind {
    none,       // no switch carried: Upgrade (if any) is dropped as hop-by-hop
    websocket,  // a WebSocket handshake: forwarded with Upgrade and Connection: Upgrade
    refuse,     // a WebSocket handshake that could desync the stream: 400
  } kind = none;
  std::string note;  // refuse: why (safe to show); none with an Upgrade header: what was dropped
};

/// Classify a request head. A WebSocket handshake (Connection lists "upgrade", Upgrade is exactly
/// "websocket") is carried only as GET over HTTP/1.1 with no body; with a body or another method
/// or version it is refused (a body would be framed by the proxy and read as frames upstream).
/// Any other Upgrade (h2c, TLS, ...) is not carried: the request goes on as plain HTTP.
UpgradeCheck check_upgrade(const RequestHead& h);

/// How a relay ended.
struct RelayResult {
  std::uint64_t up = 0, down = 0;  // bytes written to the upstream / to the client
  std::string why;                 // "closed by both sides", "idle timeout", ...
};

/// Limits of one relay.
struct RelayLimits {
  size_t buffer = 64 * 1024;                   // per direction: a full buffer stops reading that side
  std::chrono::milliseconds idle{300'000};     // no byte either way
  std::chrono::milliseconds linger{30'000};    // after one side ended, for the other to end too
};

/// Relay a switched connection both ways until both sides have ended (each end passed on as a
/// TLS close_notify and a TCP half-close), a write fails, a limit passes, or `stopping`. Both
/// SSL sessions are non-blocking on their fds. `to_upstream` / `to_client`: bytes already read
/// for the new protocol (the guest's sent before the 101, the upstream's behind the 101 head).
RelayResult relay_upgraded(ssl_st* client, int client_fd, ssl_st* upstream, int upstream_fd, std::string to_upstream,
                           std::string to_client, const RelayLimits& limits, const std::atomic<bool>& stopping);

}  // namespace sbx::proxy
