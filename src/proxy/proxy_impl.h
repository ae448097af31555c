#pragma once
// Internal: the shared state of a Proxy that the event loop and the interception threads use.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/cert_authority.h"
#include "proxy/decision.h"
#include "proxy/egress_log.h"
#include "proxy/proxy.h"
#include "proxy/rules.h"

namespace sbx::proxy {

/// What the interception threads need from the proxy.
struct InterceptContext {
  ProxyOptions* options;
  EgressLog* log;
  CertAuthority* ca;
  void* upstream_ctx;  // SSL_CTX* for verified upstream TLS
  std::atomic<bool>* stopping;
  std::atomic<std::uint64_t>* active;
  std::function<std::shared_ptr<const CompiledPolicy>()> policy;  // the rules now in force
};

/// One connection handed to interception: both fds connected, 200 not yet sent.
struct InterceptJob {
  int client_fd = -1;
  int upstream_fd = -1;
  std::string host;
  std::uint16_t port = 0;
  std::vector<config::Secret> bindings;
  DecisionRecord record;
  std::chrono::steady_clock::time_point started;
};

/// Serve an intercepted connection to its end (blocking; runs on its own thread).
void run_intercept(InterceptContext ctx, InterceptJob job);

/// A verified client TLS context for upstream connections (system store or `bundle`).
Result<void*> make_upstream_ctx(const std::filesystem::path& bundle);
void free_upstream_ctx(void* ctx);

}  // namespace sbx::proxy
