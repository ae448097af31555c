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
#include "proxy/upgrade_relay.h"

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
  std::string name;    // the secret's name
  std::string header;
  LockedBuffer line;  // "Name: value\r\n"
};

// The head sent upstream: the guest's own values for the injected headers (placeholders)
// removed, then the injected lines.
LockedBuffer build_head(const RequestHead& h, const std::vector<const Injection*>& use, bool websocket) {
  std::string head = upstream_head(h, {}, websocket);
  if (!use.empty()) {
    std::string filtered;
    size_t pos = 0;
    while (pos < head.size()) {
      const size_t e = head.find("\r\n", pos);
      const std::string_view line(head.data() + pos, e - pos);
      bool drop = false;
      for (const Injection* inj : use)
        drop = drop || (line.size() > inj->header.size() && line[inj->header.size()] == ':' &&
                        strncasecmp(line.data(), inj->header.data(), inj->header.size()) == 0);
      if (!drop || pos == 0) filtered.append(line).append("\r\n");
      pos = e + 2;
    }
    head.swap(filtered);
  }
  size_t secret_bytes = 0;
  for (const Injection* inj : use) secret_bytes += inj->line.size();
  LockedBuffer out(head.size() + secret_bytes + 2);
  out.append(head);
  for (const Injection* inj : use) out.append(inj->line.view());
  out.append("\r\n");
  return out;
}

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
  // Before the 200: a plain 502 that says why, and the log says 502 too.
  auto refuse_connect = [&](const std::string& why, const std::string& body) {
    const std::string resp = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    raw_write_all(job.client_fd, resp, hs_deadline, stopping);
    rec.status = 502;
    finish(false, why);
  };

  // Secrets first: without them there is nothing to intercept for, so fail before any TLS.
  std::vector<Injection> injections;
  for (const auto& b : job.bindings) {
    auto value = opt.secrets ? opt.secrets(b.name)
                             : Result<LockedBuffer>(fail(ErrorCode::not_found, "no secret source configured"));
    if (!value) {
      log->error("secret '{}' for {}: {}", b.name, job.host, value.error().message);
      return refuse_connect("secret unavailable: " + b.name, "sbx egress proxy: the secret '" + b.name + "' for " +
                                                                 job.host + " is unavailable: " + value.error().message + "\n");
    }
    bool line_break = false;
    for (char c : value->view()) line_break = line_break || c == '\r' || c == '\n' || c == '\0';
    if (line_break) {
      // Never sent: it would end the header line and start headers (or a request) of its own.
      log->error("secret '{}' for {} contains a line break (CR, LF or NUL); not injected", b.name, job.host);
      return refuse_connect("secret '" + b.name + "' contains a line break",
                            "sbx egress proxy: the secret '" + b.name + "' for " + job.host +
                                " contains a line break (CR, LF or NUL) and cannot be sent as the " + b.header +
                                " header; set it again with 'sbx secret set " + b.name + "'\n");
    }
    const auto brace = b.value_template.find("{}");
    const std::string_view tpl = b.value_template;
    const std::string_view before = tpl.substr(0, brace == std::string::npos ? tpl.size() : brace);
    const std::string_view after = brace == std::string::npos ? std::string_view{} : tpl.substr(brace + 2);
    Injection inj{b.name, b.header, LockedBuffer(b.header.size() + 2 + before.size() + value->size() + after.size() + 2)};
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
    log->warn("{}: {}", job.host, why);
    return refuse_connect(why, "sbx egress proxy: " + job.host + ":" + std::to_string(job.port) + ": " + why + "\n");
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

  // Requests go upstream one at a time, each decided and logged on its own (one record per
  // request, then the CONNECT's record at the end); the next head is parsed only once the
  // previous response has ended, and responses are passed on only as the response framer
  // follows them, so neither side can slip a message past the other.
  auto deadline = Clock::now() + opt.idle_timeout;
  std::string cin;
  bool in_body = false;
  BodyKind body = BodyKind::none;
  std::uint64_t body_left = 0;
  ChunkedFramer chunk;
  ResponseFramer resp;
  bool awaiting = false;  // a request went upstream and its response has not ended
  bool last = false;      // that request was the last one (Connection: close, HTTP/1.0)
  DecisionRecord req;     // the current request's record
  bool req_open = false;
  Clock::time_point req_started;
  int requests = 0, injected = 0;
  // `why` is added to the request's reason (a refusal's replaces it).
  auto end_request = [&](bool allowed, const std::string& why) {
    if (!req_open) return;
    req_open = false;
    req.allowed = allowed;
    if (!allowed || req.reason.empty()) req.reason = why;
    else if (!why.empty()) req.reason += "; " + why;
    req.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - req_started).count();
    ctx.log->write(req);
  };
  auto done = [&](const std::string& why) {
    end_request(true, why);
    rec.reason += " (" + std::to_string(requests) + " requests, " + std::to_string(injected) +
                  " with a secret header)";
    finish(true, "");
  };
  // Inside the tunnel, before any byte of a response: an answer of the proxy's own, then the end.
  auto refuse = [&](int status, const std::string& why) {
    ssl_write_all(cs.s, job.client_fd, tls_response(status, status_text(status), "sbx egress proxy: " + why + "\n"),
                  deadline, stopping);
    req.status = status;
    end_request(false, why);
    rec.reason += " (" + std::to_string(requests) + " requests, " + std::to_string(injected) +
                  " with a secret header; then refused)";
    finish(true, "");
  };
  // The upstream broke its response's framing: a 502 if none of it went out yet, else a close.
  auto broken = [&](const std::string& why) {
    log->info("intercepted upstream {}:{}: {}", job.host, job.port, why);
    if (!resp.started()) return refuse(502, job.host + ":" + std::to_string(job.port) + ": " + why);
    req.status = resp.status();
    done("response cut off: " + why);
  };
  char buf[32768];
  const size_t cin_limit = opt.limits.max_head_bytes + 65536;
  while (!stopping) {
    if (Clock::now() >= deadline) return done("idle timeout");
    bool progress = false, retry = false;
    // client -> upstream, request by request
    const bool read_client = cin.size() < cin_limit;
    if (read_client) {
      const int n = SSL_read(cs.s, buf, sizeof buf);
      if (n > 0) {
        cin.append(buf, static_cast<size_t>(n));
        progress = true;
      } else {
        const int e = SSL_get_error(cs.s, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) break;  // client closed
      }
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
          const auto st = chunk.feed(cin, used);
          if (st == ChunkedFramer::error) {
            // Part of the request already went upstream: end the connection, answer nothing more.
            log->info("malformed chunked body inside the tunnel to {}", job.host);
            req.status = 400;
            end_request(false, "malformed chunked request body");
            return finish(true, "");
          }
          take = used;
          in_body = st != ChunkedFramer::done;
        }
        if (!ssl_write_all(up.s, job.upstream_fd, std::string_view(cin).substr(0, take), deadline, stopping))
          return done("upstream write failed");
        rec.bytes_up += take;
        req.bytes_up += take;
        cin.erase(0, take);
        continue;
      }
      if (awaiting) break;  // one request at a time
      if (last) {           // nothing may follow a request that closes the connection
        cin.clear();
        break;
      }
      // Whatever the upstream sent since its last response (stray bytes, a close, a TLS
      // ticket) is read first, so it can never be taken for the answer to the next request.
      pollfd up_ready{job.upstream_fd, POLLIN, 0};
      if (SSL_pending(up.s) > 0 || ::poll(&up_ready, 1, 0) > 0) {
        retry = true;
        break;
      }
      RequestHead h;
      const auto r = parse_request_head(cin, opt.limits, TargetMode::origin, h);
      if (r.status == ParseResult::incomplete) break;
      req = DecisionRecord{};
      req.time = std::chrono::system_clock::now();
      req.method = r.status == ParseResult::ok ? h.method : "";
      req.host = job.host;
      req.port = job.port;
      req.address = rec.address;
      req.intercepted = true;
      req.rule = rec.rule;
      req.rule_text = rec.rule_text;
      req_open = true;
      req_started = Clock::now();
      if (r.status == ParseResult::error) return refuse(r.http_status, "bad request: " + r.reason);
      if (h.host != job.host || (h.port != job.port && h.port != 443)) {
        log->info("refused a request inside the tunnel to {}: Host '{}'", job.host, h.host_header);
        return refuse(403, "refused: Host header '" + h.host_header + "' does not match the CONNECT host " + job.host);
      }
      // Decided under the rules in force now (a reload applies from the next request on).
      const auto policy = ctx.policy();
      const RuleSet& rules = *policy->rules;
      const auto literal = IpAddress::parse(h.host);
      Verdict v = literal ? rules.decide_address(*literal, job.port, true) : rules.decide_host(h.host, job.port);
      if (const auto addr = IpAddress::parse(rec.address); v.allowed && addr) {
        const Verdict a = rules.decide_address(*addr, job.port, false);
        if (!a.allowed) v = a;
      }
      explain(req, rules, v, h.host, job.port);
      if (!v.allowed && learnable(v) && (rules.learn() || opt.force_learn)) {
        req.learned = true;
        req.reason = "learn mode: " + req.reason;
      } else if (!v.allowed) {
        log->info("refused a request inside the tunnel to {}: {}", job.host, req.reason);
        return refuse(403, "refused " + job.host + ":" + std::to_string(job.port) + ": " + req.reason);
      }
      // The organisation's limits in force now, on the host and on the address connected to.
      if (const auto& limits = policy->limits) {
        LimitVerdict lv = literal ? limits->decide_address(h.host, *literal, job.port, true) : limits->decide_host(h.host, job.port);
        if (const auto addr = IpAddress::parse(rec.address); lv.allowed && addr && !literal) {
          LimitVerdict a = limits->decide_address(h.host, *addr, job.port, false);
          a.warnings.insert(a.warnings.begin(), lv.warnings.begin(), lv.warnings.end());
          lv = std::move(a);
        }
        if (!apply_limits(req, lv)) {
          log->info("refused a request inside the tunnel to {} by policy ({}): {}", job.host, req.rule, req.reason);
          return refuse(403, "refused " + job.host + ":" + std::to_string(job.port) + ": " + req.reason + " (" + req.rule + ")");
        }
      }
      // Only the secrets bound to this request's host under the current rules.
      std::vector<const Injection*> use;
      if (const auto it = policy->inject.find(h.host); it != policy->inject.end())
        for (const Injection& inj : injections)
          for (const auto& s : it->second)
            if (s.name == inj.name && s.header == inj.header) {
              use.push_back(&inj);
              break;
            }
      // A WebSocket handshake goes up with its Upgrade; any other switch is dropped (hop-by-hop).
      const UpgradeCheck upgrade = check_upgrade(h);
      if (upgrade.kind == UpgradeCheck::refuse) return refuse(400, "bad request: " + upgrade.note);
      const bool websocket = upgrade.kind == UpgradeCheck::websocket;
      if (!upgrade.note.empty()) req.reason += "; " + upgrade.note;
      cin.erase(0, r.consumed);
      const LockedBuffer out = build_head(h, use, websocket);
      if (!ssl_write_all(up.s, job.upstream_fd, out.view(), deadline, stopping))
        return done("upstream write failed");
      rec.bytes_up += out.size();
      req.bytes_up += out.size();
      ++requests;
      if (!use.empty()) {
        ++injected;
        std::string names;
        for (const Injection* inj : use) names += (names.empty() ? "" : ", ") + inj->header;
        req.reason += "; secret header injected: " + names;
      }
      in_body = h.body != BodyKind::none;
      body = h.body;
      body_left = h.content_length;
      chunk = ChunkedFramer{};
      resp.expect(h.method == "HEAD", websocket);
      awaiting = true;
      // Whatever follows a WebSocket handshake is meant for the new protocol: unless a 101
      // switches to it, the connection ends after the response, and those bytes are never
      // read as HTTP (where they could pass as a request the upstream would take).
      last = !h.keep_alive || websocket;
    }
    // upstream -> client: exactly the bytes of the response due, never more
    const int n = SSL_read(up.s, buf, sizeof buf);
    if (n > 0) {
      progress = true;
      if (!awaiting) return done("the upstream sent bytes with no request outstanding");
      size_t used = 0;
      std::string out;
      const auto fs = resp.feed(std::string_view(buf, static_cast<size_t>(n)), used, out, opt.limits);
      if (!out.empty()) {
        if (!ssl_write_all(cs.s, job.client_fd, out, deadline, stopping)) return done("client write failed");
        rec.bytes_down += out.size();
        req.bytes_down += out.size();
      }
      if (fs == ResponseFramer::error) return broken(resp.reason());
      if (fs == ResponseFramer::upgraded) {
        awaiting = false;
        req.status = 101;
        log->info("intercepted {}:{}: WebSocket upgrade (101), relaying", job.host, job.port);
        RelayLimits limits;
        limits.buffer = opt.tunnel_buffer;
        limits.idle = opt.idle_timeout;
        // The guest's bytes sent before the 101, and the upstream's behind it, are the new protocol's.
        const RelayResult relayed = relay_upgraded(cs.s, job.client_fd, up.s, job.upstream_fd, std::move(cin),
                                                   std::string(buf + used, static_cast<size_t>(n) - used), limits, stopping);
        rec.bytes_up += relayed.up;
        req.bytes_up += relayed.up;
        rec.bytes_down += relayed.down;
        req.bytes_down += relayed.down;
        return done("WebSocket relayed until " + relayed.why);
      }
      if (fs == ResponseFramer::done) {
        awaiting = false;
        req.status = resp.status();
        end_request(true, "");
        if (used < static_cast<size_t>(n)) return done("the upstream sent bytes beyond its response");
        if (last || !resp.keep_alive()) break;
      }
    } else {
      const int e = SSL_get_error(up.s, n);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {  // upstream closed
        if (awaiting) {
          if (resp.eof() == ResponseFramer::error) return broken(resp.reason());
          req.status = resp.status();  // a close-delimited body: only the close ends it
          end_request(true, "");
        }
        break;
      }
    }
    if (progress) {
      deadline = Clock::now() + opt.idle_timeout;
      continue;
    }
    if (retry) continue;
    if ((read_client && SSL_pending(cs.s) > 0) || SSL_pending(up.s) > 0) continue;
    pollfd p[2] = {{job.client_fd, static_cast<short>(read_client ? POLLIN : 0), 0}, {job.upstream_fd, POLLIN, 0}};
    ::poll(p, 2, 250);
  }
  SSL_shutdown(cs.s);
  done(awaiting ? "the connection ended before the response" : "");
}

}  // namespace sbx::proxy
