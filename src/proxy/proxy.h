#pragma once
// The egress proxy of one sandbox: an epoll event loop that serves HTTP/1.1 CONNECT tunnels
// and absolute-form plain HTTP, decides every connection against the compiled rules and the
// SSRF defence, logs each decision as a JSON line, and terminates TLS only for hosts that a
// secret is injected into. It listens on a TCP address and/or serves connected fds handed to it.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"
#include "proxy/host_pins.h"
#include "proxy/http_parser.h"
#include "proxy/limits.h"
#include "proxy/resolver.h"
#include "proxy/secret_source.h"

namespace sbx::proxy {

/// The parts of a Sandboxfile the proxy enforces.
struct Policy {
  config::Egress egress;
  std::vector<config::Secret> secrets;
  std::filesystem::path file;  // where it came from (for messages)
  std::vector<HostPin> pins;   // names connected to fixed addresses instead of DNS (SBX_EGRESS_RESOLVE)
};

/// Limits and wiring of one proxy.
struct ProxyOptions {
  HeadLimits limits;
  size_t max_connections = 4096;                          // client connections at once
  std::chrono::milliseconds handshake_timeout{10'000};    // accept -> request head / ClientHello
  std::chrono::milliseconds idle_timeout{300'000};        // no byte either way on an open connection
  std::chrono::milliseconds resolve_timeout{5'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds dns_cache_ttl{5'000};         // reuse an answer this long (0: never)
  bool force_learn = false;                               // learn mode whatever the Sandboxfile says
  std::shared_ptr<Resolver> resolver;                     // default: the system resolver
  int resolver_threads = 4;
  std::filesystem::path egress_log;                       // "" for none
  std::filesystem::path state_dir;                        // per-sandbox CA lives here (interception)
  std::filesystem::path upstream_ca_bundle;               // "" for the system trust store
  SecretSource secrets;                                   // values for inject = "header"
  size_t tunnel_buffer = 64 * 1024;                       // per direction
};

/// Counters for tests and status.
struct ProxyStats {
  std::uint64_t accepted = 0, allowed = 0, denied = 0, bad_requests = 0, timeouts = 0, reloads = 0,
                reload_failures = 0, active = 0, limit_reloads = 0, limit_failures = 0;
};

class Proxy {
 public:
  /// Build a proxy with the rules of `policy`; fails if they do not compile.
  static Result<std::unique_ptr<Proxy>> create(ProxyOptions options, const Policy& policy);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  /// Listen on "127.0.0.1:PORT" (port 0 picks one); returns the bound port. Call before start().
  Result<std::uint16_t> listen(std::string_view address);
  /// Serve one already-connected client (e.g. one end of a socketpair, or a guest stream from the
  /// supervisor) exactly like an accepted one. Takes ownership of `fd`. Thread-safe, any time.
  void adopt_client(int fd);
  /// Replace the rules for new connections and requests; the old ones stay if these fail.
  Result<void> set_policy(const Policy& policy);
  /// Re-read `file` with `loader` whenever it changes (mtime/size/inode poll) or on reload_now().
  void watch(std::filesystem::path file, std::function<Result<Policy>()> loader);
  /// Apply the organisation's egress limits (policy ceilings and deny lists) to new connections
  /// and requests. Limits that do not compile are installed as broken: everything is refused.
  void set_limits(const Limits& limits);
  /// Re-load the limits with `loader` whenever `fingerprint()` changes (polled every 500 ms) or
  /// on reload_now(). The loader reports limits it cannot load as `broken`. Call before start().
  void watch_limits(std::function<std::string()> fingerprint, std::function<Limits()> loader);
  /// Ask for a reload of the watched file; async-signal-safe (call it from a SIGHUP handler).
  void reload_now();
  /// Run the event loop on this thread until stop().
  void run();
  /// Run the event loop on a background thread.
  void start();
  /// Stop the loop and close every connection; thread-safe, idempotent.
  void stop();
  /// A snapshot of the counters.
  ProxyStats stats() const;
  /// PEM of the per-sandbox CA the guest must trust (created on first use); "" if none yet.
  Result<std::string> ca_certificate_pem();

  struct Impl;

 private:
  explicit Proxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sbx::proxy
