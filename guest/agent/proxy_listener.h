#pragma once
// The guest's HTTP proxy listener on 127.0.0.1:3128 (HTTP_PROXY points here): each client it
// accepts becomes a proxy stream the guest opens towards the host's egress proxy.
#include <optional>
#include <string>

namespace sbx::guest::agent {

/// Listen on `address` (an IPv4 literal; nullptr: 127.0.0.1):kProxyPort, non-blocking; -1 (said
/// on the console) when that fails.
int open_proxy_listener(const char* address);

/// A client accepted on the listener.
struct ProxyClient {
  int fd = -1;          // non-blocking, close-on-exec
  std::string address;  // "ip:port", for the host's log
};

/// Accept one waiting client, or nullopt when none is waiting.
std::optional<ProxyClient> accept_proxy_client(int listener);

/// Answer a client whose connection the host refused, naming `reason`: a 502, or with `retry` (a
/// temporary refusal: the host's egress proxy restarts) a 503 with Retry-After. Best effort:
/// never blocks, never raises SIGPIPE.
void send_proxy_refusal(int fd, const std::string& reason, bool retry);

}  // namespace sbx::guest::agent
