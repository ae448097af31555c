// The relay runs on the interception thread of its connection, so it blocks in poll() like the
// rest of that thread. Each direction has one fixed buffer: a direction whose buffer is full is
// not read until the other side has taken some of it, so a slow reader holds back its writer
// (through TCP) instead of growing memory.
#include "proxy/upgrade_relay.h"

#include <algorithm>
#include <memory>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace sbx::proxy {
namespace {

using Clock = std::chrono::steady_clock;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

short wanted(int ssl_error) { return ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN; }

// Bytes read from `from`, written to `to`.
struct Direction {
  SSL* from;
  SSL* to;
  int to_fd;
  std::unique_ptr<char[]> buf;
  size_t cap = 0, start = 0, end = 0;
  bool ended = false;   // `from` sent its last byte (a close_notify, a TCP close, or an error)
  bool clean = false;   // ... with a close_notify
  bool passed = false;  // that end was passed on to `to`
  std::uint64_t bytes = 0;

  Direction(SSL* f, SSL* t, int tfd, const std::string& first, size_t size) : from(f), to(t), to_fd(tfd) {
    cap = std::max(size, first.size());
    buf = std::make_unique<char[]>(cap);
    std::copy(first.begin(), first.end(), buf.get());
    end = first.size();
  }

  // One pass: read what fits, write what is buffered, pass the end on. Adds the poll events it
  // waits for to `from_ev` / `to_ev`; false when writing failed (the peer is gone).
  bool step(bool& progress, short& from_ev, short& to_ev) {
    if (!ended && end < cap) {
      ERR_clear_error();
      const int n = SSL_read(from, buf.get() + end, static_cast<int>(std::min<size_t>(cap - end, 1 << 30)));
      if (n > 0) {
        end += static_cast<size_t>(n);
        progress = true;
      } else {
        const int e = SSL_get_error(from, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          from_ev |= wanted(e);
        } else {
          ended = true;
          clean = e == SSL_ERROR_ZERO_RETURN;
          progress = true;
        }
      }
    }
    if (start < end) {
      ERR_clear_error();
      // A retry after WANT_WRITE passes the same bytes again, maybe more: both contexts allow
      // partial writes and a moving buffer.
      const int n = SSL_write(to, buf.get() + start, static_cast<int>(std::min<size_t>(end - start, 1 << 30)));
      if (n > 0) {
        start += static_cast<size_t>(n);
        bytes += static_cast<std::uint64_t>(n);
        if (start == end) start = end = 0;
        progress = true;
      } else {
        const int e = SSL_get_error(to, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return false;
        to_ev |= wanted(e);
      }
    }
    if (ended && start == end && !passed) {
      // A close_notify only for a clean end, so a cut-off stream never looks complete.
      if (clean) {
        ERR_clear_error();
        SSL_shutdown(to);
      }
      ::shutdown(to_fd, SHUT_WR);
      passed = true;
      progress = true;
    }
    return true;
  }
};

}  // namespace

UpgradeCheck check_upgrade(const RequestHead& h) {
  if (h.upgrade.empty()) return {};
  // The value is the guest's: notes never repeat it.
  if (!h.connection_upgrade) return {UpgradeCheck::none, "an Upgrade header without Connection: upgrade was dropped"};
  if (!iequals(h.upgrade, "websocket"))
    return {UpgradeCheck::none, "an Upgrade other than websocket was dropped (only WebSocket is carried)"};
  if (h.method != "GET") return {UpgradeCheck::refuse, "a WebSocket upgrade must be a GET request"};
  if (h.minor_version != 1) return {UpgradeCheck::refuse, "a WebSocket upgrade needs HTTP/1.1"};
  if (h.body != BodyKind::none) return {UpgradeCheck::refuse, "a WebSocket upgrade request must not have a body"};
  return {UpgradeCheck::websocket, ""};
}

RelayResult relay_upgraded(ssl_st* client, int client_fd, ssl_st* upstream, int upstream_fd, std::string to_upstream,
                           std::string to_client, const RelayLimits& limits, const std::atomic<bool>& stopping) {
  Direction up(client, upstream, upstream_fd, to_upstream, limits.buffer);
  Direction down(upstream, client, client_fd, to_client, limits.buffer);
  RelayResult r;
  const char* first_end = nullptr;
  auto deadline = Clock::now() + limits.idle;
  Clock::time_point linger_until = Clock::time_point::max();
  while (true) {
    if (stopping) {
      r.why = "the proxy is stopping";
      break;
    }
    if (up.passed && down.passed) {
      r.why = std::string("closed by both sides (") + first_end + " first)";
      break;
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      r.why = linger_until <= now ? std::string("closed by ") + first_end + "; the other side did not close within " +
                                        std::to_string(limits.linger.count() / 1000) + " s"
                                  : "idle timeout";
      break;
    }
    bool progress = false;
    short client_ev = 0, upstream_ev = 0;
    if (!up.step(progress, client_ev, upstream_ev)) {
      r.why = "writing to the upstream failed";
      break;
    }
    if (!down.step(progress, upstream_ev, client_ev)) {
      r.why = "writing to the client failed";
      break;
    }
    if (!first_end && (up.ended || down.ended)) {
      first_end = up.ended ? "the client" : "the upstream";
      linger_until = Clock::now() + limits.linger;
    }
    if (progress) {
      deadline = std::min(Clock::now() + limits.idle, linger_until);
      continue;
    }
    // A descriptor with nothing to wait for stays out of poll(): its hangup is learnt by the
    // next read or write, and cannot make poll() return at once over and over.
    pollfd p[2] = {{client_ev ? client_fd : -1, client_ev, 0}, {upstream_ev ? upstream_fd : -1, upstream_ev, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    ::poll(p, 2, static_cast<int>(std::clamp<long>(left, 0, 250)));
  }
  r.up = up.bytes;
  r.down = down.bytes;
  return r;
}

}  // namespace sbx::proxy
