#pragma once
// Transparent egress: connections that an iptables/nftables REDIRECT sent to a port of the
// proxy (the Kubernetes sidecar's init container does this for the agent's uid), not spoken to
// as a proxy. Each one's host name comes from its TLS ClientHello (SNI) or its HTTP Host header,
// its port from the original destination (SO_ORIGINAL_DST), and it is then handed to the Proxy
// as a CONNECT to that host and port: the same rules, SSRF defence, domain-fronting check,
// secret interception and egress log line as any CONNECT. With neither name, the CONNECT is to
// the original destination address, which the rules refuse unless a CIDR rule allows it.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/error.h"

namespace sbx::proxy {

class Proxy;

/// Budgets of the transparent listener.
struct TransparentOptions {
  size_t max_connections = 1024;                        // at once; more are closed at accept
  std::chrono::milliseconds hello_timeout{10'000};      // accept -> first bytes naming the host
  std::chrono::milliseconds idle_timeout{300'000};      // no byte either way
};

/// The first bytes of a redirected connection: the host they name ("" when none).
/// `complete` is false while more bytes could still name one.
struct FirstBytes {
  bool complete = false;
  std::string host;
};
/// Look for SNI (TLS) or a Host header (HTTP/1.x) in the start of a connection.
FirstBytes host_from_first_bytes(std::string_view data);

class TransparentListener {
 public:
  /// Listen on "ADDR:PORT" (port 0 picks one) and hand what arrives to `proxy`, which must
  /// outlive the listener. Accepting runs on a background thread, one thread per connection.
  static Result<std::unique_ptr<TransparentListener>> start(Proxy& proxy, std::string_view address,
                                                            TransparentOptions options = {});
  ~TransparentListener();
  TransparentListener(const TransparentListener&) = delete;
  TransparentListener& operator=(const TransparentListener&) = delete;

  /// The bound port.
  std::uint16_t port() const;
  /// Stop accepting and close every connection; waits for their threads.
  void stop();

  struct Impl;

 private:
  explicit TransparentListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sbx::proxy
