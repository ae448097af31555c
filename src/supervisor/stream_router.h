#pragma once
// Which client owns which stream of the guest channel. `sbx exec` and `sbx shell` clients open
// streams on their own ids; the supervisor gives each one a host (odd) guest stream id and keeps
// the pair here, so frames find their way in both directions. Guest-opened log streams are routed
// here too (to guest.log, with a window). No sockets: the supervisor does the sending.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace sbx::supervisor {

/// Who a routed stream's frames go to.
enum class RouteOwner {
  client,     // a control-socket client (`Route::conn`)
  guest_log,  // a log stream the guest opened: its DATA goes to guest.log
};

/// One routed stream, by guest stream id.
struct Route {
  RouteOwner owner = RouteOwner::client;
  int conn = 0;                   // the client's id (owner client)
  std::uint32_t client_stream = 0;
  bool host_closed = false;       // CLOSE sent to the guest
  std::uint32_t credit = 0;       // log streams: what the guest may still send (its window)
};

/// Why a client's OPEN was not routed.
enum class RouteRefusal {
  id_in_use,    // the client already has a stream on that id
  over_budget,  // the sandbox routes `budget` streams already
};

/// The routing table of one sandbox's channel.
class StreamRouter {
 public:
  using Map = std::map<std::uint32_t, Route>;

  /// At most `budget` routes at once (client and log streams together).
  explicit StreamRouter(std::size_t budget = 1024) : budget_(budget) {}
  void set_budget(std::size_t budget) { budget_ = budget; }

  /// Route a client's new stream: the guest stream id it gets (host ids: odd, never reused), or why not.
  std::optional<std::uint32_t> open_for_client(int conn, std::uint32_t client_stream, RouteRefusal* why);
  /// A fresh host (odd) stream id for a stream the supervisor itself opens (a forwarded port):
  /// from the same sequence as client routes, so the two never collide.
  std::uint32_t take_host_id() {
    const std::uint32_t id = next_stream_;
    next_stream_ += 2;
    return id;
  }
  /// The guest stream id of a client's stream, if routed.
  std::optional<std::uint32_t> guest_stream(int conn, std::uint32_t client_stream) const;
  /// Route a log stream the guest opened on `guest_stream` with `window` bytes of credit; false
  /// when the route budget is spent. (The caller checked that the id is a free guest id.)
  bool open_guest_log(std::uint32_t guest_stream, std::uint32_t window);
  /// Forget every route of a client that went away; returns the guest stream ids that still
  /// need a CLOSE sent to the guest.
  std::vector<std::uint32_t> drop_client(int conn);

  /// The route of a guest stream id, or end().
  Map::iterator find(std::uint32_t guest_stream) { return routes_.find(guest_stream); }
  Map::iterator end() { return routes_.end(); }
  void erase(Map::iterator it);
  void erase(std::uint32_t guest_stream);
  bool contains(std::uint32_t guest_stream) const { return routes_.count(guest_stream) != 0; }

  /// Routes open now, all kinds.
  std::size_t size() const { return routes_.size(); }
  /// Guest log streams among them.
  std::size_t log_streams() const { return log_streams_; }
  std::size_t budget() const { return budget_; }

 private:
  Map routes_;
  std::uint32_t next_stream_ = 1;
  std::size_t budget_;
  std::size_t log_streams_ = 0;
};

}  // namespace sbx::supervisor
