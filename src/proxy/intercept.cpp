// Interception for hosts that get a secret header: TLS is terminated with the sandbox CA, each
// request is checked (Host must be the CONNECT host) and gets the header, then re-encrypted to
// the verified upstream. Runs on its own thread per connection with poll() and deadlines; the
// number of such threads is bounded by the proxy's connection limit.
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "proxy/proxy_impl.h"

namespace sbx::proxy {
namespace {

using Clock = std::chrono::steady_clock;

struct Ssl {
  SSL* s = nullptr;
  ~Ssl() {
    if (s) SSL_free(s);
  }
};

std::string ssl_error() {
  const unsigned long e = ERR_get_error();
  if (!e) return "connection closed";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// Wait for the direction OpenSSL asked for; false on timeout or stop.
bool wait_for(int fd, int ssl_err, Clock::time_point deadline, const std::atomic<bool>& stopping) {
  const short ev = ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
  while (!stopping) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, ev, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long>(left, 250)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
  return false;
}

// Drive a handshake (accept or connect) to its end within the deadline.
bool handshake(SSL* s, int fd, bool server, Clock::time_point deadline, const std::atomic<bool>& stopping) {
  while (true) {
    const int r = server ? SSL_accept(s) : SSL_connect(s);
    if (r == 1) return true;
    const int e = SSL_get_error(s, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return false;
    if (!wait_for(fd, e, deadline, stopping)) return false;
  }
}

bool ssl_write_all(SSL* s, int fd, std::string_view data, Clock::time_point deadline, const std::atomic<bool>& stopping) {
  while (!data.empty()) {
    const int n = SSL_write(s, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 30)));
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    const int e = SSL_get_error(s, n);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return false;
    if (!wait_for(fd, e, deadline, stopping)) return false;
  }
  return true;
}

bool raw_write_all(int fd, std::string_view data, Clock::time_point deadline, const std::atomic<bool>& stopping) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, SSL_ERROR_WANT_WRITE, deadline, stopping)) return false;
      continue;
    }
    return false;
  }
  return true;
}

std::string tls_response(int status, const std::string& reason, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: text/plain; charset=utf-8\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// One secret header, ready to send: the values stay in locked memory.
struct Injection {
  std::string header;
  LockedBuffer line;  // "Name: value\r\n"
};

}  // namespace

Result<void*> make_upstream_ctx(const std::filesystem::path& bundle) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return fail(ErrorCode::runtime, "cannot create a TLS context: " + ssl_error());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const bool ok = bundle.empty() ? SSL_CTX_set_default_verify_paths(ctx) == 1
                                 : SSL_CTX_load_verify_locations(ctx, bundle.c_str(), nullptr) == 1;
  if (!ok) {
    SSL_CTX_free(ctx);
    return fail(ErrorCode::invalid, "cannot load the upstream CA bundle " + bundle.string() + ": " + ssl_error());
  }
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return static_cast<void*>(ctx);
}

void free_upstream_ctx(void* ctx) { SSL_CTX_free(static_cast<SSL_CTX*>(ctx)); }

void run_intercept(InterceptContext ctx, InterceptJob job) {
  auto log = sbx::log::get("proxy");
  const ProxyOptions& opt = *ctx.options;
  const std::atomic<bool>& stopping = *ctx.stopping;
  DecisionRecord& rec = job.record;
  auto finish = [&](bool allowed, const std::string& reason) {
    rec.allowed = allowed;
    if (!reason.empty()) rec.reason = reason;
    rec.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - job.started).count();
    ctx.log->write(rec);
    ::close(job.client_fd);
    ::close(job.upstream_fd);
  };
  const auto hs_deadline = Clock::now() + opt.handshake_timeout;

  // Secrets first: without them there is nothing to intercept for, so fail before any TLS.
  std::vector<Injection> injections;
  for (const auto& b : job.bindings) {
    auto value = opt.secrets ? opt.secrets(b.name)
                             : Result<LockedBuffer>(fail(ErrorCode::not_found, "no secret source configured"));
    if (!value) {
      log->error("secret '{}' for {}: {}", b.name, job.host, value.error().message);
      const auto body = "sbx egress proxy: the secret '" + b.name + "' for " + job.host + " is unavailable: " +
                        value.error().message + "\n";
      const std::string resp = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      raw_write_all(job.client_fd, resp, hs_deadline, stopping);
      rec.status = 502;
      return finish(false, "secret unavailable: " + b.name);
    }
    for (char c : value->view())
      if (c == '\r' || c == '\n' || c == '\0') return finish(false, "secret '" + b.name + "' contains a line break");
    const auto brace = b.value_template.find("{}");
    const std::string_view tpl = b.value_template;
    const std::string_view before = tpl.substr(0, brace == std::string::npos ? tpl.size() : brace);
    const std::string_view after = brace == std::string::npos ? std::string_view{} : tpl.substr(brace + 2);
    Injection inj{b.header, LockedBuffer(b.header.size() + 2 + before.size() + value->size() + after.size() + 2)};
    inj.line.append(b.header);
    inj.line.append(": ");
    inj.line.append(before);
    if (brace != std::string::npos) inj.line.append(value->view());
    inj.line.append(after);
    inj.line.append("\r\n");
    injections.push_back(std::move(inj));
  }

  // Upstream first, verified, so a bad certificate can still be reported as an HTTP error.
  Ssl up{SSL_new(static_cast<SSL_CTX*>(ctx.upstream_ctx))};
  SSL_set_fd(up.s, job.upstream_fd);
  SSL_set_tlsext_host_name(up.s, job.host.c_str());
  SSL_set1_host(up.s, job.host.c_str());
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_set_alpn_protos(up.s, kAlpn, sizeof kAlpn);
  if (!handshake(up.s, job.upstream_fd, false, hs_deadline, stopping)) {
    const long vr = SSL_get_verify_result(up.s);
    const std::string why = vr != X509_V_OK ? std::string("upstream certificate rejected: ") + X509_verify_cert_error_string(vr)
                                            : "upstream TLS handshake failed: " + ssl_error();
    const auto body = "sbx egress proxy: " + job.host + ":" + std::to_string(job.port) + ": " + why + "\n";
    raw_write_all(job.client_fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: " +
                                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body,
                  hs_deadline, stopping);
    rec.status = 502;
    log->warn("{}: {}", job.host, why);
    return finish(false, why);
  }
  if (!raw_write_all(job.client_fd, "HTTP/1.1 200 Connection established\r\n\r\n", hs_deadline, stopping))
    return finish(true, "");

  auto server_ctx = ctx.ca->server_context(job.host);
  if (!server_ctx) return finish(false, server_ctx.error().message);
  Ssl cs{SSL_new(static_cast<SSL_CTX*>(*server_ctx))};
  SSL_set_fd(cs.s, job.client_fd);
  if (!handshake(cs.s, job.client_fd, true, hs_deadline, stopping))
    return finish(true, "client TLS handshake failed: " + ssl_error());
  if (const char* sni = SSL_get_servername(cs.s, TLSEXT_NAMETYPE_host_name)) {
    std::string got;
    if (!normalise_host(sni, got) || got != job.host)
      return finish(false, "TLS server name '" + std::string(sni) + "' does not match the CONNECT host " + job.host +
                               " (domain fronting is refused)");
  }

  std::string cin;
  bool in_body = false;
  BodyKind body = BodyKind::none;
  std::uint64_t body_left = 0;
  ChunkedFramer chunk;
  char buf[32768];
  auto deadline = Clock::now() + opt.idle_timeout;
  int requests = 0;
  while (!stopping) {
    if (Clock::now() >= deadline) return finish(true, "");
    bool progress = false;
    // client -> upstream, request by request
    int n = SSL_read(cs.s, buf, sizeof buf);
    if (n > 0) {
      cin.append(buf, static_cast<size_t>(n));
      progress = true;
    } else {
      const int e = SSL_get_error(cs.s, n);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) break;  // client closed
    }
    while (!cin.empty()) {
      if (in_body) {
        size_t take = cin.size();
        if (body == BodyKind::length) {
          take = static_cast<size_t>(std::min<std::uint64_t>(take, body_left));
          body_left -= take;
          in_body = body_left > 0;
        } else {
          size_t used = 0;
          const auto s = chunk.feed(cin, used);
          if (s == ChunkedFramer::error) {
            ssl_write_all(cs.s, job.client_fd, tls_response(400, "Bad Request", "sbx egress proxy: malformed chunked body\n"),
                          deadline, stopping);
            return finish(true, "");
          }
          take = used;
          in_body = s != ChunkedFramer::done;
        }
        if (!ssl_write_all(up.s, job.upstream_fd, std::string_view(cin).substr(0, take), deadline, stopping))
          return finish(true, "");
        rec.bytes_up += take;
        cin.erase(0, take);
        continue;
      }
      RequestHead h;
      const auto r = parse_request_head(cin, opt.limits, TargetMode::origin, h);
      if (r.status == ParseResult::incomplete) break;
      if (r.status == ParseResult::error) {
        ssl_write_all(cs.s, job.client_fd,
                      tls_response(r.http_status, "Bad Request", "sbx egress proxy: bad request: " + r.reason + "\n"),
                      deadline, stopping);
        return finish(true, "");
      }
      if (h.host != job.host || (h.port != job.port && h.port != 443)) {
        const auto why = "Host header '" + h.host_header + "' does not match the CONNECT host " + job.host;
        ssl_write_all(cs.s, job.client_fd, tls_response(403, "Forbidden", "sbx egress proxy: refused: " + why + "\n"),
                      deadline, stopping);
        log->info("refused a request inside the tunnel to {}: {}", job.host, why);
        return finish(false, why);
      }
      cin.erase(0, r.consumed);
      // Remove whatever the guest sent for the secret headers (placeholders) and add the real ones.
      std::string head = h.method + " " + h.path + (h.minor_version == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
      std::string rest = upstream_head(h);
      rest.erase(0, rest.find("\r\n") + 2);
      for (const auto& inj : injections) {
        std::string filtered;
        size_t pos = 0;
        while (pos < rest.size()) {
          const size_t e = rest.find("\r\n", pos);
          const std::string_view line(rest.data() + pos, e - pos);
          const bool drop = line.size() > inj.header.size() && line[inj.header.size()] == ':' &&
                            strncasecmp(line.data(), inj.header.data(), inj.header.size()) == 0;
          if (!drop) filtered.append(line).append("\r\n");
          pos = e + 2;
        }
        rest.swap(filtered);
      }
      head += rest;
      size_t secret_bytes = 0;
      for (const auto& inj : injections) secret_bytes += inj.line.size();
      LockedBuffer out(head.size() + secret_bytes + 2);
      out.append(head);
      for (const auto& inj : injections) out.append(inj.line.view());
      out.append("\r\n");
      if (!ssl_write_all(up.s, job.upstream_fd, out.view(), deadline, stopping)) return finish(true, "");
      rec.bytes_up += out.size();
      ++requests;
      in_body = h.body != BodyKind::none;
      body = h.body;
      body_left = h.content_length;
      chunk = ChunkedFramer{};
    }
    if (cin.size() > opt.limits.max_head_bytes + 65536) return finish(true, "request head too large");
    // upstream -> client, as is
    n = SSL_read(up.s, buf, sizeof buf);
    if (n > 0) {
      if (!ssl_write_all(cs.s, job.client_fd, std::string_view(buf, static_cast<size_t>(n)), deadline, stopping))
        return finish(true, "");
      rec.bytes_down += static_cast<std::uint64_t>(n);
      progress = true;
    } else {
      const int e = SSL_get_error(up.s, n);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) break;  // upstream closed
    }
    if (progress) {
      deadline = Clock::now() + opt.idle_timeout;
      continue;
    }
    if (SSL_pending(cs.s) > 0 || SSL_pending(up.s) > 0) continue;
    pollfd p[2] = {{job.client_fd, POLLIN, 0}, {job.upstream_fd, POLLIN, 0}};
    ::poll(p, 2, 250);
  }
  SSL_shutdown(cs.s);
  rec.reason += " (" + std::to_string(requests) + " requests, secret header injected)";
  finish(true, "");
}

}  // namespace sbx::proxy
