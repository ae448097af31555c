#pragma once
// Helpers for the proxy tests: temp dirs, a test PKI made with the openssl CLI, the Python
// upstream server, a proxy running on a thread, and raw socket I/O. Loopback only.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/sandboxfile.h"
#include "proxy/proxy.h"

struct ssl_st;
struct ssl_ctx_st;

namespace sbx::proxy::test {

/// A fresh directory under /tmp, removed at the end.
struct TempDir {
  TempDir();
  ~TempDir();
  std::filesystem::path path;
};

/// Run a shell command; returns stdout, sets `status` to the exit code.
std::string sh(const std::string& cmd, int* status = nullptr);

/// The test CA and a server certificate for *.test names and 127.0.0.1 (made once per process).
struct Pki {
  std::filesystem::path ca_crt, srv_crt, srv_key;
  static const Pki& get();
};

/// The Python echo server (HTTP, or HTTPS with the test PKI) on a loopback port.
class Upstream {
 public:
  Upstream(const std::string& name, bool tls);
  ~Upstream();
  std::uint16_t port = 0;

 private:
  int pid_ = -1;
};

/// One scripted answer of RawUpstream: raw bytes, sent after `delay_ms`, then maybe a close.
struct RawStep {
  std::string send;
  int delay_ms = 0;
  bool close = false;
};

/// A raw HTTP upstream (raw_upstream.py) answering each request it reads with the next step,
/// byte for byte; logs "conn N" per connection and "N METHOD PATH" per request to `log`.
class RawUpstream {
 public:
  /// `heads`: where every request head received is appended ("" for nowhere); `tls`: HTTPS with
  /// the test PKI's server certificate.
  RawUpstream(const std::vector<RawStep>& steps, const std::filesystem::path& log,
              const std::filesystem::path& heads = {}, bool tls = false);
  ~RawUpstream();
  std::uint16_t port = 0;

 private:
  int pid_ = -1;
};

/// A WebSocket server over TLS with the test PKI (ws_upstream.py): echoes messages and appends
/// each handshake's path and headers as a JSON line to `record`.
class WsUpstream {
 public:
  explicit WsUpstream(const std::filesystem::path& record);
  ~WsUpstream();
  std::uint16_t port = 0;

 private:
  int pid_ = -1;
};

/// An egress rule as the Sandboxfile would give it ("host[:ports]"), at Sandboxfile:`line`.
config::EgressRule rule(const std::string& text, int line);

/// An [egress] section of these allow and deny rules, at Sandboxfile lines 10, 11, ...
config::Egress egress(std::vector<std::string> allow, std::vector<std::string> deny = {});

/// A proxy on 127.0.0.1 with a test name table, running on its own thread.
struct RunningProxy {
  RunningProxy(const config::Egress& egress, std::vector<std::string> resolve, ProxyOptions opt = {},
               std::vector<config::Secret> secrets = {});
  ~RunningProxy();
  std::unique_ptr<Proxy> proxy;
  std::uint16_t port = 0;
  std::shared_ptr<StaticResolver> resolver;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

/// Connect to 127.0.0.1:port (blocking); -1 on failure.
int connect_local(std::uint16_t port);
/// Send everything; false on error.
bool send_all(int fd, const std::string& data);
/// Read until `until` appears, EOF, or the timeout; returns what was read.
std::string recv_until(int fd, const std::string& until, int timeout_ms);
/// Read until EOF or the timeout.
std::string recv_all(int fd, int timeout_ms);
/// Send one request on a fresh connection to the proxy and return the whole response.
std::string roundtrip(std::uint16_t port, const std::string& request, int timeout_ms = 5000);

/// The lines of a file.
std::vector<std::string> read_lines(const std::filesystem::path& p);
/// The whole of a file ("" if missing).
std::string slurp(const std::filesystem::path& p);
/// The JSON lines of an egress log once it has `n` of them (or after 3 s).
std::vector<nlohmann::json> wait_records(const std::filesystem::path& f, size_t n);

/// A secret source that gives every secret the value `value`.
SecretSource fixed_secret(std::string value);

/// A TLS client inside a CONNECT tunnel through the proxy, trusting the proxy's CA.
struct TunnelClient {
  TunnelClient(std::uint16_t proxy_port, const std::string& host, std::uint16_t port, const std::string& ca_pem);
  ~TunnelClient();
  TunnelClient(const TunnelClient&) = delete;
  TunnelClient& operator=(const TunnelClient&) = delete;
  /// Write all of `s` inside the tunnel.
  bool send(const std::string& s);
  /// Read until `until` appears (or, with "", until the proxy closes) within `timeout_ms`.
  std::string read(const std::string& until, int timeout_ms = 5000);
  int fd = -1;
  ssl_ctx_st* ctx = nullptr;
  ssl_st* ssl = nullptr;
  std::string reply;  // the proxy's answer to the CONNECT
};

}  // namespace sbx::proxy::test
