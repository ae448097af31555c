// The proxy's event loop and its per-connection state machine (Proxy::Impl): accept, read the
// head, decide, resolve, connect, then tunnel (CONNECT) or forward (plain HTTP), and every ending.
// Why it is past 500 lines: CONNECT tunnels and plain-HTTP forwarding are one state machine over
// one Conn (they share read_head, begin_request, connect_next and the relay, and a kept-alive
// plain-HTTP connection moves between their states), driven by one epoll set; splitting it would
// mean publishing Impl and Conn to every piece. What needs neither lives beside it, one job per
// file: relay.h (buffers, splice), resolver_pool.h, decision.h (compile, verdict, the 403 body),
// policy_watcher.h, intercept.cpp (TLS interception threads), upgrade_relay.h (WebSockets),
// transparent.h (redirected connections), http_parser.h and http_framing.cpp.
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>

#include "common/log.h"
#include "proxy/decision.h"
#include "proxy/policy_watcher.h"
#include "proxy/proxy_impl.h"
#include "proxy/relay.h"
#include "proxy/resolver_pool.h"
#include "proxy/tls_sni.h"

namespace sbx::proxy {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTick = std::chrono::milliseconds(100);
constexpr size_t kMaxHelloBytes = 18 * 1024;

enum class State { head, resolving, connecting, hello, tunnel, forward, closing };

/// What a listener or the wake-up eventfd registers with epoll (they live as long as the proxy).
struct Handle {
  enum Kind { listener, wake } kind;
  int fd = -1;
};

// Connection fds register a tag, not a pointer: a closed fd whose file is still open elsewhere
// (a fork() of this process that has not exec'd yet: the supervisor spawns QEMU, tests run curl)
// stays in the epoll set and may still report, so an event must never reach freed memory.
// Tag: connection id << 24 | upstream generation << 2 | is-upstream << 1 | 1 (pointers are even).
std::uint64_t conn_tag(std::uint64_t id, bool upstream, std::uint32_t gen) {
  return id << 24 | static_cast<std::uint64_t>(upstream ? gen & 0x3fffff : 0) << 2 | (upstream ? 2u : 0u) | 1u;
}

struct Conn {
  std::uint64_t id = 0;
  int client_fd = -1, upstream_fd = -1;
  std::uint32_t upstream_gen = 0;  // bumped per upstream socket: stale reports of an old one are ignored
  State state = State::head;
  Clock::time_point deadline;
  std::string client_in;    // client bytes not yet consumed (heads, hello, bodies)
  Buffer c2u, u2c;
  bool client_eof = false, upstream_eof = false, upstream_shut = false, client_shut = false;
  bool upstream_connected = false;  // connect finished (upstream_fd reported writable)
  bool wants_close = false; // close once u2c is flushed (error responses)
  // current request / decision
  RequestHead req;
  std::shared_ptr<const CompiledPolicy> policy;
  Verdict verdict;
  std::vector<IpAddress> addrs;
  size_t addr_i = 0;
  DecisionRecord rec;
  Clock::time_point started;
  bool logged = true;       // rec already written (or nothing to write)
  // plain-HTTP forwarding
  std::string up_host;
  std::uint16_t up_port = 0;
  bool in_body = false;
  BodyKind body = BodyKind::none;
  std::uint64_t body_left = 0;
  ChunkedFramer chunk;
  bool close_after = false;
  ResponseFramer resp;       // where the upstream's current response ends
  bool awaiting = false;     // a request went upstream and its response has not ended yet
  bool up_reusable = true;   // the upstream may carry the next request (keep-alive, no stray bytes)
  bool end_client = false;   // close the client once u2c is flushed (close-delimited response...)
  std::string up_addr;      // address of the current upstream
  // Bulk tunnels switch to splice() through a pipe per direction (no copies through user space).
  Splice splice_c2u, splice_u2c;
  bool in_relay = false, again = false;  // relay() re-entrancy guard
  std::uint32_t client_events = 0, upstream_events = 0;  // what each fd is registered for
  bool client_readable = true, upstream_readable = true;  // may have unread input (edge seen, no EAGAIN or short read since)
  bool client_hup = false, upstream_hup = false;  // the peer's FIN or an error was reported: read to the end
};

}  // namespace

struct Proxy::Impl {
  ProxyOptions opt;
  std::shared_ptr<spdlog::logger> log = sbx::log::get("proxy");
  std::unique_ptr<EgressLog> egress;
  int ep = -1, wake_fd = -1;
  int reserve_fd = -1;  // spent to answer a client when accept() finds the fd table full
  std::vector<std::unique_ptr<Handle>> listeners;
  Handle wake_h{Handle::wake};
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns;
  std::vector<std::unique_ptr<Conn>> graveyard;
  std::uint64_t next_id = 1;
  std::atomic<bool> stopping{false};
  std::thread loop_thread;
  std::atomic<std::uint64_t> active{0};  // client connections incl. intercepted ones

  // policy (swapped atomically under the mutex; connections keep the one they started with)
  mutable std::mutex policy_mu;
  std::shared_ptr<const CompiledPolicy> policy;
  PolicyWatcher watcher;
  std::atomic<bool> reload_requested{false};
  std::shared_ptr<const CompiledLimits> limits;  // under policy_mu; attached to every policy installed
  std::function<std::string()> limits_fingerprint;
  std::function<Limits()> limits_loader;
  std::string limits_seen;
  Clock::time_point next_poll;

  // adoption and resolution (mutex-protected queues, eventfd wake-up)
  std::mutex q_mu;
  std::deque<int> adopted;
  std::uint64_t refused_adoptions = 0;  // under q_mu
  std::unique_ptr<ResolverPool> resolvers;  // created by init()
  AnswerCache dns_cache;                     // loop thread only

  // interception
  std::mutex ca_mu;
  std::unique_ptr<CertAuthority> ca;
  void* upstream_ctx = nullptr;
  std::mutex icpt_mu;
  std::condition_variable icpt_cv;
  int icpt_running = 0;

  mutable std::mutex stats_mu;
  ProxyStats stats;

  ~Impl() {
    shutdown_all();
    if (upstream_ctx) free_upstream_ctx(upstream_ctx);
  }

  void count(std::uint64_t ProxyStats::*f) {
    std::lock_guard l(stats_mu);
    ++(stats.*f);
  }

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  std::shared_ptr<const CompiledPolicy> current_policy() const {
    std::lock_guard l(policy_mu);
    return policy;
  }

  // ---- setup -------------------------------------------------------------------------------
  Result<void> init() {
    ep = epoll_create1(EPOLL_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep < 0 || wake_fd < 0) return fail(ErrorCode::io, std::string("cannot create epoll: ") + std::strerror(errno));
    wake_h.fd = wake_fd;
    reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    epoll_event ev{EPOLLIN, {.ptr = &wake_h}};
    epoll_ctl(ep, EPOLL_CTL_ADD, wake_fd, &ev);
    if (!opt.resolver) opt.resolver = std::make_shared<SystemResolver>();
    egress = SBX_TRY(EgressLog::open(opt.egress_log));
    resolvers = std::make_unique<ResolverPool>(opt.resolver, [this] { wake(); });
    resolvers->start(opt.resolver_threads);
    return {};
  }

  // ---- loop --------------------------------------------------------------------------------
  void run() {
    std::vector<epoll_event> events(256);
    next_poll = Clock::now();
    while (!stopping) {
      const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), static_cast<int>(kTick.count()));
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[i].data.u64;
        if (!(tag & 1)) {
          auto* h = static_cast<Handle*>(events[i].data.ptr);
          if (h->kind == Handle::listener) accept_all(h->fd);
          else on_wake();
          continue;
        }
        const auto it = conns.find(tag >> 24);
        if (it == conns.end()) continue;  // a connection closed already (see conn_tag)
        Conn& c = *it->second;
        const bool up = tag & 2;
        if (c.state == State::closing || (up && (c.upstream_fd < 0 || tag != conn_tag(c.id, true, c.upstream_gen)))) continue;
        if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) (up ? c.upstream_readable : c.client_readable) = true;
        if (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) (up ? c.upstream_hup : c.client_hup) = true;
        if (up && c.state == State::connecting) c.upstream_connected = true;
        drive(c);
        touch(c);
      }
      graveyard.clear();
      const auto now = Clock::now();
      if (now >= next_poll) {
        next_poll = now + kTick * 5;
        sweep(now);
        if (watcher.poll()) reload("the file changed");
        if (limits_fingerprint) {
          std::string fp = limits_fingerprint();
          if (fp != limits_seen) {
            limits_seen = std::move(fp);
            reload_limits("a policy file changed");
          }
        }
      }
      if (reload_requested.exchange(false)) {
        reload_limits("reload requested");  // first: "reloaded" (the rules' count) then covers both
        reload("reload requested");
      }
    }
    shutdown_all();
  }

  void shutdown_all() {
    stopping = true;
    if (resolvers) resolvers->stop();
    for (auto& [id, c] : conns) {
      if (c->client_fd >= 0) ::close(c->client_fd);
      if (c->upstream_fd >= 0) ::close(c->upstream_fd);
      c->client_fd = c->upstream_fd = -1;
    }
    conns.clear();
    {
      std::unique_lock l(icpt_mu);
      icpt_cv.wait_for(l, std::chrono::seconds(5), [&] { return icpt_running == 0; });
    }
    for (auto& l : listeners) ::close(l->fd);
    listeners.clear();
    std::lock_guard l(q_mu);
    for (int fd : adopted) ::close(fd);
    adopted.clear();
    if (ep >= 0) ::close(ep);
    if (wake_fd >= 0) ::close(wake_fd);
    if (reserve_fd >= 0) ::close(reserve_fd);
    ep = wake_fd = reserve_fd = -1;
  }

  void on_wake() {
    std::uint64_t v;
    while (::read(wake_fd, &v, sizeof v) > 0) {
    }
    std::deque<int> fds;
    {
      std::lock_guard l(q_mu);
      fds.swap(adopted);
    }
    std::deque<ResolveDone> done = resolvers->take_done();
    for (int fd : fds) add_client(fd);
    for (auto& d : done) {
      auto it = conns.find(d.id);
      if (it == conns.end() || it->second->state != State::resolving) continue;
      if (d.result && opt.dns_cache_ttl.count() > 0)
        dns_cache.put(it->second->req.host, *d.result, Clock::now() + opt.dns_cache_ttl);
      Conn* conn = it->second.get();  // stays alive in the graveyard if it closes now
      on_resolved(*conn, std::move(d.result));
      touch(*conn);
    }
  }

  // One accept per readiness report: the listener is level-triggered, so a backlog is reported
  // again by the next epoll_wait, and the usual single pending client costs no EAGAIN accept4.
  void accept_all(int lfd) {
    const int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return add_client(fd, true);
    if ((errno == EMFILE || errno == ENFILE) && reserve_fd >= 0) {
      // Out of descriptors: the listener stays readable, so take the client with the one kept
      // in reserve, tell it why, and let it go (back-pressure, not a busy loop).
      ::close(reserve_fd);
      reserve_fd = -1;
      const int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c >= 0) {
        const auto msg = error_response(503, "sbx egress proxy: out of file descriptors (" + std::to_string(active.load()) +
                                           " connections open); try again later\n");
        [[maybe_unused]] auto n = ::send(c, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(c);
      }
      log->warn("refused a connection: out of file descriptors ({} connections open)", active.load());
      reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
  }

  // `accepted`: from our listener, so already non-blocking and TCP_NODELAY (inherited from it).
  void add_client(int fd, bool accepted = false) {
    count(&ProxyStats::accepted);
    if (!accepted) set_nonblocking(fd);
    if (active >= opt.max_connections) {
      const auto msg = error_response(503, "sbx egress proxy: too many connections (limit " +
                                         std::to_string(opt.max_connections) + ")\n");
      [[maybe_unused]] auto n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      log->warn("refused a connection: {} connections open (the limit)", opt.max_connections);
      return;
    }
    if (!accepted) {
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    auto c = std::make_unique<Conn>();
    c->id = next_id++;
    c->client_fd = fd;
    c->deadline = Clock::now() + opt.handshake_timeout;
    c->started = Clock::now();
    c->client_events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    epoll_event ev{c->client_events, {.u64 = conn_tag(c->id, false, 0)}};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    ++active;
    Conn& ref = *c;
    conns.emplace(c->id, std::move(c));
    drive(ref);
    touch(ref);
  }

  void sweep(Clock::time_point now) {
    std::vector<Conn*> expired;
    for (auto& [id, c] : conns)
      if (c->state != State::closing && now >= c->deadline) expired.push_back(c.get());
    for (Conn* c : expired) {
      on_timeout(*c);
      touch(*c);
    }
  }

  void on_timeout(Conn& c) {
    count(&ProxyStats::timeouts);
    switch (c.state) {
      case State::head:
        if (c.client_in.empty() && c.rec.method.empty() && c.req.method.empty()) {
          log->debug("closing a client that sent nothing within the handshake timeout");
        }
        return close_conn(c, "timeout waiting for the request head");
      case State::resolving:
        return deny_now(c, 504, "resolving " + c.req.host + " took longer than " +
                                    std::to_string(opt.resolve_timeout.count()) + " ms", "timeout", "");
      case State::connecting:
        if (c.upstream_fd >= 0) {
          ::close(c.upstream_fd);
          c.upstream_fd = -1;
        }
        ++c.addr_i;
        return connect_next(c);
      default: return close_conn(c, "idle timeout");
    }
  }

  // Ask for EPOLLOUT only while something waits to be written: an edge-triggered EPOLLOUT
  // would otherwise wake the loop on every ACK.
  void touch(Conn& c) {
    if (c.state == State::closing) return;
    const bool to_client = !c.u2c.empty() || c.splice_u2c.in_pipe > 0;
    const bool to_upstream = !c.c2u.empty() || c.splice_c2u.in_pipe > 0 || c.state == State::connecting;
    const std::uint32_t base = EPOLLIN | EPOLLRDHUP | EPOLLET;
    if (c.client_fd >= 0) {
      const std::uint32_t want = base | (to_client ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
      if (want != c.client_events) {
        c.client_events = want;
        epoll_event ev{want, {.u64 = conn_tag(c.id, false, 0)}};
        epoll_ctl(ep, EPOLL_CTL_MOD, c.client_fd, &ev);
      }
    }
    if (c.upstream_fd >= 0) {
      const std::uint32_t want = base | (to_upstream ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
      if (want != c.upstream_events) {
        c.upstream_events = want;
        epoll_event ev{want, {.u64 = conn_tag(c.id, true, c.upstream_gen)}};
        epoll_ctl(ep, EPOLL_CTL_MOD, c.upstream_fd, &ev);
      }
    }
  }

  // ---- per-connection state machine ----------------------------------------------------------
  void drive(Conn& c) {
    switch (c.state) {
      case State::head: return read_head(c);
      case State::resolving: return;
      case State::connecting: return check_connect(c);
      case State::hello:
      case State::tunnel:
      case State::forward: return relay(c);
      case State::closing: return;
    }
  }

  // Read client bytes into c.client_in (bounded); returns false when the connection was closed.
  bool read_client(Conn& c, size_t limit) {
    char buf[16384];
    while (c.client_in.size() < limit && !c.client_eof && c.client_readable) {
      const size_t want = std::min(sizeof buf, limit - c.client_in.size());
      const ssize_t n = ::recv(c.client_fd, buf, want, 0);
      if (n > 0) {
        c.client_in.append(buf, static_cast<size_t>(n));
        // A short read emptied the socket: the next byte brings a new edge (saves an EAGAIN recv).
        if (static_cast<size_t>(n) < want && !c.client_hup) c.client_readable = false;
        continue;
      }
      if (n == 0) {
        c.client_eof = true;
        break;
      }
      if (errno == EINTR) continue;
      if (would_block()) {
        c.client_readable = false;
        break;
      }
      close_conn(c, "client read error");
      return false;
    }
    return true;
  }

  void read_head(Conn& c) {
    if (!read_client(c, opt.limits.max_head_bytes + 8)) return;
    RequestHead h;
    const auto r = parse_request_head(c.client_in, opt.limits, TargetMode::proxy, h);
    if (r.status == ParseResult::incomplete) {
      if (c.client_eof) close_conn(c, "client closed before a full request head");
      return;
    }
    if (r.status == ParseResult::error) {
      count(&ProxyStats::bad_requests);
      log->debug("bad request: {}", r.reason);
      return reply_and_close(c, r.http_status, "sbx egress proxy: bad request: " + r.reason + "\n");
    }
    c.client_in.erase(0, r.consumed);
    c.req = std::move(h);
    begin_request(c);
  }

  void begin_request(Conn& c) {
    c.policy = current_policy();
    c.started = Clock::now();
    c.rec = DecisionRecord{};
    c.rec.time = std::chrono::system_clock::now();
    c.rec.method = c.req.method;
    c.rec.host = c.req.host;
    c.rec.port = c.req.port;
    c.logged = false;
    const RuleSet& rules = *c.policy->rules;
    const auto literal = IpAddress::parse(c.req.host);
    if (c.req.host_is_ipv6 && !literal) return reply_and_close(c, 400, "sbx egress proxy: bad IPv6 address\n");
    Verdict v = literal ? rules.decide_address(*literal, c.req.port, true) : rules.decide_host(c.req.host, c.req.port);
    const bool learn = rules.learn() || opt.force_learn;
    if (!v.allowed && learn && learnable(v)) {
      c.rec.learned = true;
      c.rec.fix = rules.fix_line(v, c.req.host, c.req.port, "");
      explain(c.rec, rules, v, c.req.host, c.req.port);
      c.rec.reason = "learn mode: " + c.rec.reason;
      v.allowed = true;
    }
    c.verdict = v;
    if (!v.allowed) return deny(c, v, literal ? literal->str() : "");
    if (!c.rec.learned) explain(c.rec, rules, v, c.req.host, c.req.port);
    // What the Sandboxfile allows must also be inside every policy's ceiling (and on no deny list).
    if (const auto& lim = c.policy->limits) {
      const LimitVerdict lv = literal ? lim->decide_address(c.req.host, *literal, c.req.port, true)
                                      : lim->decide_host(c.req.host, c.req.port);
      if (!apply_limits(c.rec, lv)) return deny_by_policy(c, literal ? literal->str() : "");
    }
    // Reuse the upstream of a keep-alive connection for the same host and port.
    if (!c.req.connect && c.upstream_fd >= 0 && c.up_host == c.req.host && c.up_port == c.req.port && !c.upstream_eof &&
        c.up_reusable && !c.upstream_shut) {
      c.rec.address = c.up_addr;
      c.rec.allowed = true;
      return start_forward(c);
    }
    if (c.upstream_fd >= 0) drop_upstream(c);
    if (literal) {
      c.addrs = {*literal};
      c.addr_i = 0;
      return connect_next(c);
    }
    // A pinned name skips DNS and the cache; its addresses are checked like any answer.
    std::string pin_key;
    if (const auto pin = !c.policy->pins.empty() && normalise_host(c.req.host, pin_key) ? c.policy->pins.find(pin_key) : c.policy->pins.end();
        pin != c.policy->pins.end()) {
      c.state = State::resolving;
      c.rec.pinned = true;
      return on_resolved(c, pin->second);
    }
    if (const auto* cached = dns_cache.find(c.req.host, Clock::now())) {
      c.state = State::resolving;
      return on_resolved(c, *cached);
    }
    if (!resolvers->submit(c.id, c.req.host))
      return deny_now(c, 503, "too many name lookups in progress", "overload", "");
    c.state = State::resolving;
    c.deadline = Clock::now() + opt.resolve_timeout;
  }

  void on_resolved(Conn& c, Result<std::vector<IpAddress>> r) {
    if (!r) return deny_now(c, 502, r.error().message, "resolution failed", "");
    const RuleSet& rules = *c.policy->rules;
    // Every address must pass: a name that mixes public and private answers is refused whole.
    for (const auto& a : *r) {
      const Verdict v = rules.decide_address(a, c.req.port, false);
      if (!v.allowed) {
        c.rec.learned = false;
        return deny(c, v, a.str());
      }
      if (const auto& lim = c.policy->limits;
          lim && !apply_limits(c.rec, lim->decide_address(c.req.host, a, c.req.port, false)))
        return deny_by_policy(c, a.str());
    }
    c.addrs = std::move(*r);
    c.addr_i = 0;
    connect_next(c);
  }

  void connect_next(Conn& c) {
    while (c.addr_i < c.addrs.size()) {
      const IpAddress& a = c.addrs[c.addr_i];
      sockaddr_storage ss;
      const socklen_t len = a.to_sockaddr(c.req.port, ss);
      const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        const bool full = errno == EMFILE || errno == ENFILE;
        return deny_now(c, 503,
                        full ? "the egress proxy is out of file descriptors (" + std::to_string(active.load()) +
                                   " connections open); try again later"
                             : std::string("cannot create a socket: ") + std::strerror(errno),
                        full ? "overload" : "error", "");
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      // Connect to exactly the address that was checked: no second resolution.
      if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 || errno == EINPROGRESS) {
        c.upstream_fd = fd;
        ++c.upstream_gen;
        c.upstream_connected = false;
        c.upstream_eof = c.upstream_shut = false;
        // Loopback and near peers often finish the handshake inside connect(): skip a wake-up.
        // One TCP_INFO read says so (established: connected, no error pending).
        tcp_info ti{};
        socklen_t tl = sizeof ti;
        const bool done = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && ti.tcpi_state == TCP_ESTABLISHED;
        c.upstream_events = EPOLLIN | EPOLLRDHUP | EPOLLET | (done ? 0u : static_cast<std::uint32_t>(EPOLLOUT));
        epoll_event ev{c.upstream_events, {.u64 = conn_tag(c.id, true, c.upstream_gen)}};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        c.upstream_readable = false;  // nothing to read before the handshake; EPOLL_CTL_ADD reports data that came since
        c.upstream_hup = false;
        c.state = State::connecting;
        c.deadline = Clock::now() + opt.connect_timeout;
        c.rec.address = a.str();
        if (done) {
          c.upstream_connected = true;
          check_connect(c, true);
        }
        return;
      }
      ::close(fd);
      ++c.addr_i;
    }
    deny_now(c, 502, "cannot connect to " + c.req.host + ":" + std::to_string(c.req.port), "connect failed",
             c.addrs.empty() ? "" : c.addrs.back().str());
  }

  void check_connect(Conn& c, bool established = false) {
    if (!c.upstream_connected) return;
    int err = 0;
    socklen_t len = sizeof err;
    if (!established) getsockopt(c.upstream_fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      ::close(c.upstream_fd);
      c.upstream_fd = -1;
      ++c.addr_i;
      return connect_next(c);
    }
    count(&ProxyStats::allowed);
    c.rec.allowed = true;
    c.up_addr = c.rec.address;
    c.up_host = c.req.host;
    c.up_port = c.req.port;
    c.up_reusable = true;
    c.deadline = Clock::now() + opt.idle_timeout;
    if (!c.req.connect) return start_forward(c);
    c.rec.status = 200;
    if (auto it = c.policy->inject.find(c.req.host); it != c.policy->inject.end() && c.client_in.empty())
      return hand_to_interceptor(c, it->second);
    c.u2c.ensure(opt.tunnel_buffer);
    c.c2u.ensure(opt.tunnel_buffer);
    c.u2c.append("HTTP/1.1 200 Connection established\r\n\r\n");
    c.state = State::hello;
    c.deadline = Clock::now() + opt.handshake_timeout;
    relay(c);
  }

  void start_forward(Conn& c) {
    c.u2c.ensure(opt.tunnel_buffer);
    c.c2u.ensure(opt.tunnel_buffer);
    const std::string head = upstream_head(c.req) + "\r\n";
    c.c2u.append(head);
    c.rec.bytes_up += head.size();
    c.in_body = c.req.body != BodyKind::none;
    c.body = c.req.body;
    c.body_left = c.req.content_length;
    c.chunk = ChunkedFramer{};
    c.close_after = !c.req.keep_alive;
    c.resp.expect(c.req.method == "HEAD");
    c.awaiting = true;
    c.state = State::forward;
    c.deadline = Clock::now() + opt.idle_timeout;
    relay(c);
  }

  // Move request bytes from c.client_in to c.c2u in plain-HTTP mode, parsing the next head when a
  // body ends. Returns false if the connection changed state (closed or new request started).
  bool feed_requests(Conn& c) {
    while (!c.client_in.empty()) {
      if (c.in_body) {
        size_t take = std::min(c.client_in.size(), c.c2u.cap - c.c2u.size());
        if (take == 0) return true;
        if (c.body == BodyKind::length) {
          take = static_cast<size_t>(std::min<std::uint64_t>(take, c.body_left));
          c.body_left -= take;
          if (c.body_left == 0) c.in_body = false;
        } else {
          size_t used = 0;
          const auto s = c.chunk.feed(std::string_view(c.client_in).substr(0, take), used);
          if (s == ChunkedFramer::error) {
            count(&ProxyStats::bad_requests);
            reply_and_close(c, 400, "sbx egress proxy: bad request: malformed chunked body\n");
            return false;
          }
          take = used;
          if (s == ChunkedFramer::done) c.in_body = false;
        }
        c.c2u.append(std::string_view(c.client_in).substr(0, take));
        c.rec.bytes_up += take;
        c.client_in.erase(0, take);
        continue;
      }
      if (c.close_after || c.end_client) {  // nothing may follow "Connection: close" or a close-delimited response
        c.client_in.clear();
        return true;
      }
      // One request at a time: the next head waits until this response has ended, so responses
      // cannot be mis-associated and the upstream is switched only at a response boundary.
      if (c.awaiting) return true;
      RequestHead h;
      const auto r = parse_request_head(c.client_in, opt.limits, TargetMode::proxy, h);
      if (r.status == ParseResult::incomplete) return true;
      if (r.status == ParseResult::error) {
        count(&ProxyStats::bad_requests);
        reply_and_close(c, r.http_status, "sbx egress proxy: bad request: " + r.reason + "\n");
        return false;
      }
      c.client_in.erase(0, r.consumed);
      log_record(c);
      c.req = std::move(h);
      begin_request(c);
      return false;
    }
    return true;
  }

  // relay() can be reached again from inside itself (a pipelined request starts the next
  // one); loop instead of recursing so hostile pipelining cannot grow the stack.
  void relay(Conn& c) {
    if (c.in_relay) {
      c.again = true;
      return;
    }
    c.in_relay = true;
    do {
      c.again = false;
      relay_once(c);
    } while (c.again && c.state != State::closing);
    c.in_relay = false;
  }

  void relay_once(Conn& c) {
    bool moved = false;
    // upstream -> client (the 200 line or an error response may already sit in u2c)
    if (c.upstream_fd >= 0 && c.state == State::tunnel) {
      if (!tunnel_pump(c.upstream_fd, c.client_fd, c.u2c, c.splice_u2c, c.upstream_eof, &c.rec.bytes_down, moved, c.upstream_readable, c.upstream_hup))
        return close_conn(c, "relay error");
    } else if (c.upstream_fd >= 0 && c.state == State::forward && !c.wants_close) {
      if (!forward_down(c, moved)) return;
    } else if (c.upstream_fd >= 0) {
      if (!pump(c.upstream_fd, c.client_fd, c.u2c, c.upstream_eof, &c.rec.bytes_down, true, moved, &c.upstream_readable, c.upstream_hup)) return close_conn(c, "relay error");
    } else if (!c.u2c.empty()) {
      bool dummy_eof = true;
      if (!pump(-1, c.client_fd, c.u2c, dummy_eof, nullptr, false, moved)) return close_conn(c, "write error");
    }
    if (c.wants_close) {
      if (c.u2c.empty()) {
        // Read what the client already sent, so closing does not reset the connection
        // before it has read the response.
        char sink[4096];
        for (int i = 0; i < 64 && ::recv(c.client_fd, sink, sizeof sink, 0) > 0; ++i) {
        }
        ::shutdown(c.client_fd, SHUT_WR);
        close_conn(c, "response sent");
      }
      return;
    }
    // client -> upstream
    if (c.state == State::hello) {
      if (!read_client(c, kMaxHelloBytes)) return;
      if (!c.client_in.empty() || c.client_eof) {
        std::string sni;
        const auto h = peek_client_hello(c.client_in, sni);
        if (h == HelloStatus::need_more && !c.client_eof && c.client_in.size() < kMaxHelloBytes) return finish_relay(c, moved);
        std::string want;
        normalise_host(c.req.host, want);
        std::string got;
        if (h == HelloStatus::sni && (!normalise_host(sni, got) || got != want)) {
          return front_refused(c, sni);
        }
        if (h == HelloStatus::malformed || (h == HelloStatus::need_more && !c.client_eof)) return front_refused(c, "");
        c.c2u.append(c.client_in);
        c.rec.bytes_up += c.client_in.size();
        c.client_in.clear();
        c.state = State::tunnel;
        c.deadline = Clock::now() + opt.idle_timeout;
        moved = true;
      } else {
        return finish_relay(c, moved);
      }
    }
    if (c.state == State::tunnel) {
      if (!tunnel_pump(c.client_fd, c.upstream_fd, c.c2u, c.splice_c2u, c.client_eof, &c.rec.bytes_up, moved, c.client_readable, c.client_hup))
        return close_conn(c, "relay error");
    } else if (c.state == State::forward) {
      while (true) {
        if (!read_client(c, 64 * 1024)) return;
        if (!feed_requests(c)) return;
        bool m = false;
        bool no_eof = false;
        if (!pump(-1, c.upstream_fd, c.c2u, no_eof, nullptr, false, m)) return close_conn(c, "relay error");
        moved |= m;
        // Stop once the upstream is full or the client has nothing more for now.
        if (!m || c.client_in.size() >= 64 * 1024 || c.client_eof) break;
      }
    }
    finish_relay(c, moved);
  }

  // Plain HTTP, upstream -> client: flush u2c, read the upstream only while a response is due,
  // and pass on exactly the bytes of that response. False when the connection changed state.
  bool forward_down(Conn& c, bool& moved) {
    char buf[16384];
    std::string out;
    while (true) {
      bool progress = false;
      if (!c.u2c.empty()) {
        const ssize_t n = ::send(c.client_fd, c.u2c.data.get() + c.u2c.start, c.u2c.size(), MSG_NOSIGNAL);
        if (n > 0) {
          c.u2c.start += static_cast<size_t>(n);
          c.rec.bytes_down += static_cast<std::uint64_t>(n);
          c.u2c.compact();
          progress = true;
        } else if (n < 0 && errno != EINTR && !would_block()) {
          close_conn(c, "client write error");
          return false;
        }
      }
      if (c.u2c.empty() && c.upstream_fd >= 0 && !c.upstream_eof && c.upstream_readable) {
        const ssize_t n = ::recv(c.upstream_fd, buf, sizeof buf, 0);
        if (n > 0) {
          if (static_cast<size_t>(n) < sizeof buf && !c.upstream_hup) c.upstream_readable = false;
          progress = true;
          if (!c.awaiting) {
            // Bytes nobody asked for (a second response, or desync): never forward them.
            log->debug("{}:{} sent {} bytes with no request outstanding; dropping that upstream", c.up_host, c.up_port, n);
            drop_upstream(c);
            continue;
          }
          size_t used = 0;
          out.clear();
          const auto fs = c.resp.feed(std::string_view(buf, static_cast<size_t>(n)), used, out, opt.limits);
          if (!out.empty()) c.u2c.append(out);
          if (fs == ResponseFramer::error) {
            if (!upstream_broken(c, c.resp.reason())) return false;
            continue;
          }
          if (fs == ResponseFramer::done) {
            c.awaiting = false;
            if (used < static_cast<size_t>(n) || !c.resp.keep_alive()) c.up_reusable = false;
            if (c.close_after) c.end_client = true;
            c.again = true;  // the next pipelined request may start
          }
        } else if (n == 0) {
          c.upstream_eof = true;
          progress = true;
          if (c.awaiting) {
            if (c.resp.eof() == ResponseFramer::error) {
              if (!upstream_broken(c, c.resp.reason())) return false;
              continue;
            }
            c.awaiting = false;
            c.end_client = true;  // a close-delimited body: only the close tells the client it ended
          }
          c.up_reusable = false;
        } else if (would_block()) {
          c.upstream_readable = false;
        } else if (errno != EINTR) {
          if (!upstream_broken(c, std::string("upstream read error: ") + std::strerror(errno))) return false;
          continue;
        }
      }
      if (!progress) return true;
      moved = true;
    }
  }

  // The upstream broke the response framing or vanished mid-response: a 502 if the client has
  // seen nothing of this response yet; else what was valid goes out, then the client is closed
  // (it sees a truncated response, never the bytes that broke the framing).
  bool upstream_broken(Conn& c, const std::string& why) {
    log->info("upstream {}:{}: {}", c.up_host, c.up_port, why);
    c.awaiting = false;
    if (!c.resp.started() && c.u2c.empty()) {
      deny_now(c, 502, why, "upstream error", c.up_addr);
      return false;
    }
    drop_upstream(c);
    c.end_client = true;
    c.in_body = false;  // the rest of a request body has nowhere to go
    return true;
  }

  void finish_forward(Conn& c, bool moved) {
    if (moved) c.deadline = Clock::now() + opt.idle_timeout;
    const bool flushed = c.u2c.empty();
    if (!c.awaiting) {
      if ((c.end_client || c.close_after) && flushed) return close_conn(c, "done");
      if (c.upstream_fd >= 0 && !c.up_reusable && !c.in_body) drop_upstream(c);
      if (c.client_eof && flushed && !c.in_body) return close_conn(c, "done");
    }
    // The client finished sending while a response is due: pass its half-close on.
    if (c.client_eof && c.upstream_fd >= 0 && !c.upstream_shut && c.c2u.empty() && c.client_in.empty()) {
      ::shutdown(c.upstream_fd, SHUT_WR);
      c.upstream_shut = true;
    }
  }

  void finish_relay(Conn& c, bool moved) {
    if (c.state == State::forward && !c.wants_close) return finish_forward(c, moved);
    if (moved && c.state != State::hello) c.deadline = Clock::now() + opt.idle_timeout;
    const bool c2u_empty = c.c2u.empty() && c.splice_c2u.in_pipe == 0;
    const bool u2c_empty = c.u2c.empty() && c.splice_u2c.in_pipe == 0;
    const bool client_done = c.client_eof && c2u_empty && (c.state != State::forward || c.client_in.empty() || c.close_after);
    // Both sides finished: close without a shutdown() first (one syscall fewer per connection).
    if (client_done && c.upstream_eof && u2c_empty) return close_conn(c, "done");
    if (client_done && c.upstream_fd >= 0 && !c.upstream_shut) {
      ::shutdown(c.upstream_fd, SHUT_WR);
      c.upstream_shut = true;
    }
    if (c.upstream_eof && u2c_empty) {
      if (c.state == State::hello || c.upstream_shut) return close_conn(c, "done");
      if (!c.client_shut) {
        ::shutdown(c.client_fd, SHUT_WR);
        c.client_shut = true;
      }
    }
    if (c.client_eof && c.upstream_eof && u2c_empty && c2u_empty) close_conn(c, "done");
  }

  void front_refused(Conn& c, const std::string& sni) {
    count(&ProxyStats::denied);
    c.rec.allowed = false;
    c.rec.learned = false;
    c.rec.rule = "default";
    c.rec.reason = sni.empty() ? "the tunnel did not start with a well-formed TLS ClientHello"
                               : "TLS server name '" + sni + "' does not match the CONNECT host " + c.req.host +
                                     " (domain fronting is refused)";
    log->info("refused {}:{}: {}", c.req.host, c.req.port, c.rec.reason);
    close_conn(c, "domain fronting");
  }

  void hand_to_interceptor(Conn& c, const std::vector<config::Secret>& bindings) {
    InterceptJob job;
    job.client_fd = c.client_fd;
    job.upstream_fd = c.upstream_fd;
    job.host = c.req.host;
    job.port = c.req.port;
    job.bindings = bindings;
    job.record = c.rec;
    job.record.allowed = true;
    job.record.intercepted = true;
    job.started = c.started;
    epoll_ctl(ep, EPOLL_CTL_DEL, c.client_fd, nullptr);
    epoll_ctl(ep, EPOLL_CTL_DEL, c.upstream_fd, nullptr);
    c.client_fd = c.upstream_fd = -1;
    c.logged = true;
    auto ctx_or = intercept_context();
    if (!ctx_or) {
      log->error("cannot intercept {}: {}", job.host, ctx_or.error().message);
      ::close(job.client_fd);
      ::close(job.upstream_fd);
      job.record.allowed = false;
      job.record.reason = "interception unavailable: " + ctx_or.error().message;
      egress->write(job.record);
      --active;  // the interceptor would have released it
      return retire(c);
    }
    {
      std::lock_guard l(icpt_mu);
      ++icpt_running;
    }
    // The interception thread owns the client slot in `active` until it ends.
    auto shared_job = std::make_shared<InterceptJob>(std::move(job));
    try {
      std::thread([this, ctx = *ctx_or, shared_job]() mutable {
        run_intercept(ctx, std::move(*shared_job));
        --active;
        std::lock_guard l(icpt_mu);
        --icpt_running;
        icpt_cv.notify_all();
      }).detach();
    } catch (const std::system_error& e) {  // no thread to spare: refuse this one, keep serving
      {
        std::lock_guard l(icpt_mu);
        --icpt_running;
      }
      log->warn("cannot intercept {}: {}", shared_job->host, e.what());
      const auto msg = error_response(503, "sbx egress proxy: out of threads for intercepted connections; try again later\n");
      [[maybe_unused]] auto n = ::send(shared_job->client_fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(shared_job->client_fd);
      ::close(shared_job->upstream_fd);
      shared_job->record.allowed = false;
      shared_job->record.status = 503;
      shared_job->record.reason = std::string("no thread for interception: ") + e.what();
      egress->write(shared_job->record);
      return retire(c);
    }
    retire(c, /*release_slot=*/false);
  }

  Result<InterceptContext> intercept_context() {
    std::lock_guard l(ca_mu);
    if (!ca) {
      if (opt.state_dir.empty())
        return fail(ErrorCode::invalid, "no state directory for the sandbox CA");
      ca = SBX_TRY(CertAuthority::open(opt.state_dir));
    }
    if (!upstream_ctx) upstream_ctx = SBX_TRY(make_upstream_ctx(opt.upstream_ca_bundle));
    return InterceptContext{&opt, egress.get(), ca.get(), upstream_ctx, &stopping, &active,
                            [this] { return current_policy(); }};
  }

  // ---- endings ---------------------------------------------------------------------------------
  void deny(Conn& c, const Verdict& v, const std::string& address) {
    const RuleSet& rules = *c.policy->rules;
    explain(c.rec, rules, v, c.req.host, c.req.port);
    c.rec.fix = rules.fix_line(v, c.req.host, c.req.port, address);
    c.rec.address = address;
    const std::string body = refusal_body(c.rec, c.policy->file);
    log->info("refused {}:{} ({}): {}", c.req.host, c.req.port, c.rec.rule, c.rec.reason);
    count(&ProxyStats::denied);
    finish_denied(c, 403, body);
  }

  // `c.rec` already names the policy rule that refused (apply_limits).
  void deny_by_policy(Conn& c, const std::string& address) {
    c.rec.address = address;
    const std::string body = refusal_body(c.rec, c.policy->file);
    log->info("refused {}:{} by policy ({}): {}", c.req.host, c.req.port, c.rec.rule, c.rec.reason);
    count(&ProxyStats::denied);
    finish_denied(c, 403, body);
  }

  void deny_now(Conn& c, int status, const std::string& why, const std::string& rule, const std::string& address) {
    c.rec.rule = rule;
    c.rec.reason = why;
    c.rec.address = address;
    log->info("failed {}:{}: {}", c.req.host, c.req.port, why);
    finish_denied(c, status, "sbx egress proxy: " + c.req.host + ":" + std::to_string(c.req.port) + ": " + why + "\n");
  }

  void finish_denied(Conn& c, int status, const std::string& body) {
    c.rec.allowed = false;
    c.rec.status = status;
    log_record(c);
    reply_and_close(c, status, body);
  }

  void reply_and_close(Conn& c, int status, const std::string& body) {
    if (c.upstream_fd >= 0) drop_upstream(c);
    // Plain HTTP: what is left of earlier responses goes out first; elsewhere start afresh.
    if (c.state != State::forward) c.u2c = Buffer{};
    c.u2c.ensure(4096);
    c.u2c.append(error_response(status, body));
    c.wants_close = true;
    c.state = State::forward;  // relay() flushes u2c, then closes
    c.deadline = Clock::now() + opt.handshake_timeout;
    relay(c);
  }

  void drop_upstream(Conn& c) {
    ::close(c.upstream_fd);
    c.upstream_fd = -1;
    c.upstream_eof = c.upstream_shut = c.upstream_hup = false;
    c.awaiting = false;
    c.c2u.start = c.c2u.end = 0;  // bytes for that upstream only; u2c (for the client) stays
  }

  void log_record(Conn& c) {
    if (c.logged) return;
    c.logged = true;
    c.rec.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - c.started).count();
    egress->write(c.rec);
  }

  void close_conn(Conn& c, const char* why) {
    if (c.state == State::closing) return;
    if (!c.logged) {
      if (!c.rec.allowed && c.rec.reason.empty()) c.rec.reason = why;
      log_record(c);
    }
    log->trace("closing connection {}: {}", c.id, why);
    if (c.client_fd >= 0) {
      ::close(c.client_fd);
    }
    if (c.upstream_fd >= 0) {
      ::close(c.upstream_fd);
    }
    c.client_fd = c.upstream_fd = -1;
    c.splice_c2u.close_pipe();
    c.splice_u2c.close_pipe();
    retire(c);
  }

  void retire(Conn& c, bool release_slot = true) {
    c.state = State::closing;
    if (release_slot) --active;
    auto it = conns.find(c.id);
    if (it != conns.end()) {
      graveyard.push_back(std::move(it->second));
      conns.erase(it);
    }
  }

  // ---- reload ------------------------------------------------------------------------------------
  // A compiled Sandboxfile policy goes in with the limits in force.
  void install(const std::shared_ptr<const CompiledPolicy>& p) {
    std::lock_guard l(policy_mu);
    if (!limits) {
      policy = p;
      return;
    }
    auto with = std::make_shared<CompiledPolicy>(*p);
    with->limits = limits;
    policy = std::move(with);
  }

  void install_limits(std::shared_ptr<const CompiledLimits> next) {
    std::lock_guard l(policy_mu);
    limits = next->empty() ? nullptr : std::move(next);
    if (!policy) return;
    auto with = std::make_shared<CompiledPolicy>(*policy);
    with->limits = limits;
    policy = std::move(with);
  }

  // Limits that cannot be compiled are installed broken: fail closed, never "no ceiling".
  void set_limits(const Limits& next) {
    auto c = CompiledLimits::compile(next);
    if (!c) {
      count(&ProxyStats::limit_failures);
      log->error("refusing every connection: the egress policies do not compile: {}", c.error().message);
      c = CompiledLimits::compile(Limits{{}, c.error().message});
    } else if (!(*c)->broken().empty()) {
      count(&ProxyStats::limit_failures);
      log->error("refusing every connection: the egress policies cannot be loaded: {}", (*c)->broken());
    }
    install_limits(*c);
  }

  void reload_limits(const char* why) {
    if (!limits_loader) return;
    set_limits(limits_loader());
    count(&ProxyStats::limit_reloads);
    const auto now = current_policy();
    if (now && now->limits && now->limits->broken().empty())
      log->info("reloaded the egress policies ({}): {} ceilings, {} deny rules", why, now->limits->ceilings(),
                now->limits->deny_rules());
    else if (!now || !now->limits)
      log->info("reloaded the egress policies ({}): no ceiling or deny rule", why);
  }

  void reload(const char* why) {
    if (!watcher.can_load()) return;
    auto p = watcher.load();
    if (!p) {
      count(&ProxyStats::reload_failures);
      log->warn("keeping the previous egress rules: {} cannot be loaded ({}): {}", watcher.file().string(), why,
                p.error().render());
      return;
    }
    auto c = compile_policy(*p);
    if (!c) {
      count(&ProxyStats::reload_failures);
      log->warn("keeping the previous egress rules: {}", c.error().render());
      return;
    }
    install(*c);
    count(&ProxyStats::reloads);
    log->info("reloaded egress rules from {} ({}): {} allow, {} deny", watcher.file().string(), why,
              p->egress.allow.size(), p->egress.deny.size());
  }
};

Proxy::Proxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Proxy::~Proxy() {
  stop();
  if (impl_->loop_thread.joinable()) impl_->loop_thread.join();
}

Result<std::unique_ptr<Proxy>> Proxy::create(ProxyOptions options, const Policy& policy) {
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  impl->policy = SBX_TRY(compile_policy(policy));
  if (!impl->policy->inject.empty()) {
    // Secret values will live in this process: keep them out of core dumps and ptrace.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  }
  SBX_TRY_VOID(impl->init());
  return std::unique_ptr<Proxy>(new Proxy(std::move(impl)));
}

Result<std::uint16_t> Proxy::listen(std::string_view address) {
  std::string host;
  bool v6 = false;
  std::uint16_t port = 0;
  if (address.ends_with(":0")) {
    if (!split_authority(address.substr(0, address.size() - 2), 1, host, v6, port))
      return fail(ErrorCode::usage, "bad listen address '" + std::string(address) + "'", "write HOST:PORT, e.g. 127.0.0.1:3128");
    port = 0;
  } else if (!split_authority(address, 0, host, v6, port)) {
    return fail(ErrorCode::usage, "bad listen address '" + std::string(address) + "'", "write HOST:PORT, e.g. 127.0.0.1:3128");
  }
  auto ip = IpAddress::parse(host);
  if (!ip) return fail(ErrorCode::usage, "listen address must be an IP address, not '" + host + "'");
  sockaddr_storage ss;
  const socklen_t len = ip->to_sockaddr(port, ss);
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // accepted sockets inherit it
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 1024) != 0) {
    const std::string e = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return fail(ErrorCode::io, "cannot listen on " + std::string(address) + ": " + e,
                "pick a free port, or 0 to let the system choose");
  }
  sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  const std::uint16_t actual = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                                                : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  // Wake the loop only once a client has sent its request, not at the bare handshake.
  const int defer = 5;
  setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
  auto h = std::make_unique<Handle>(Handle{Handle::listener, fd});
  epoll_event ev{EPOLLIN, {.ptr = h.get()}};
  epoll_ctl(impl_->ep, EPOLL_CTL_ADD, fd, &ev);
  impl_->listeners.push_back(std::move(h));
  impl_->log->info("listening on {}:{}", ip->str(), actual);
  return actual;
}

void Proxy::adopt_client(int fd) {
  {
    std::lock_guard l(impl_->q_mu);
    if (impl_->stopping) {
      ::close(fd);
      return;
    }
    // Refuse here, on the caller's thread, once the limit is reached: queued descriptors would
    // otherwise pile up faster than the loop takes them, until the fd table is full.
    if (impl_->active + impl_->adopted.size() >= impl_->opt.max_connections) {
      const auto msg = error_response(503, "sbx egress proxy: too many connections (limit " +
                                         std::to_string(impl_->opt.max_connections) + ")\n");
      [[maybe_unused]] auto n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      impl_->count(&ProxyStats::accepted);
      if (impl_->refused_adoptions++ % 100 == 0)
        impl_->log->warn("refused a connection: {} connections open (the limit; {} refused so far)",
                         impl_->opt.max_connections, impl_->refused_adoptions);
      return;
    }
    impl_->adopted.push_back(fd);
  }
  impl_->wake();
}

Result<void> Proxy::set_policy(const Policy& policy) {
  impl_->install(SBX_TRY(compile_policy(policy)));
  return {};
}

void Proxy::set_limits(const Limits& limits) { impl_->set_limits(limits); }

void Proxy::watch_limits(std::function<std::string()> fingerprint, std::function<Limits()> loader) {
  impl_->limits_fingerprint = std::move(fingerprint);
  impl_->limits_loader = std::move(loader);
  impl_->limits_seen = impl_->limits_fingerprint ? impl_->limits_fingerprint() : "";
}

void Proxy::watch(std::filesystem::path file, std::function<Result<Policy>()> loader) {
  impl_->watcher.watch(std::move(file), std::move(loader));
  impl_->watcher.poll();
}

void Proxy::reload_now() {
  impl_->reload_requested = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->wake_fd, &one, sizeof one);
}

void Proxy::run() { impl_->run(); }

void Proxy::start() {
  impl_->loop_thread = std::thread([this] { impl_->run(); });
}

void Proxy::stop() {
  if (impl_->stopping.exchange(true)) return;
  impl_->wake();
  if (impl_->resolvers) impl_->resolvers->request_stop();
}

ProxyStats Proxy::stats() const {
  std::lock_guard l(impl_->stats_mu);
  ProxyStats s = impl_->stats;
  s.active = impl_->active;
  return s;
}

Result<std::string> Proxy::ca_certificate_pem() {
  auto ctx = SBX_TRY(impl_->intercept_context());
  return ctx.ca->certificate_pem();
}

}  // namespace sbx::proxy
