#include "supervisor/stream_router.h"

namespace sbx::supervisor {

std::optional<std::uint32_t> StreamRouter::open_for_client(int conn, std::uint32_t client_stream, RouteRefusal* why) {
  if (guest_stream(conn, client_stream)) {
    if (why) *why = RouteRefusal::id_in_use;
    return std::nullopt;
  }
  if (routes_.size() >= budget_) {
    if (why) *why = RouteRefusal::over_budget;
    return std::nullopt;
  }
  const std::uint32_t gid = next_stream_;
  next_stream_ += 2;
  routes_[gid] = Route{RouteOwner::client, conn, client_stream, false, 0};
  return gid;
}

std::optional<std::uint32_t> StreamRouter::guest_stream(int conn, std::uint32_t client_stream) const {
  for (const auto& [gid, r] : routes_)
    if (r.owner == RouteOwner::client && r.conn == conn && r.client_stream == client_stream) return gid;
  return std::nullopt;
}

bool StreamRouter::open_guest_log(std::uint32_t guest_stream, std::uint32_t window) {
  if (routes_.size() >= budget_) return false;
  routes_[guest_stream] = Route{RouteOwner::guest_log, 0, 0, false, window};
  ++log_streams_;
  return true;
}

std::vector<std::uint32_t> StreamRouter::drop_client(int conn) {
  std::vector<std::uint32_t> to_close;
  for (auto it = routes_.begin(); it != routes_.end();) {
    if (it->second.owner != RouteOwner::client || it->second.conn != conn) {
      ++it;
      continue;
    }
    if (!it->second.host_closed) to_close.push_back(it->first);
    // Nobody reads it any more: forget it now, so a guest that never answers CLOSE cannot make
    // routes pile up (its late frames on the id are ignored, and host ids are never reused).
    it = routes_.erase(it);
  }
  return to_close;
}

void StreamRouter::erase(Map::iterator it) {
  if (it->second.owner == RouteOwner::guest_log) --log_streams_;
  routes_.erase(it);
}

void StreamRouter::erase(std::uint32_t guest_stream) {
  if (auto it = routes_.find(guest_stream); it != routes_.end()) erase(it);
}

}  // namespace sbx::supervisor
