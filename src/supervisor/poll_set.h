#pragma once
// One turn's poll() set: each source is added under the index add() returns, so the loop asks
// "did the channel become readable" by name instead of by a fixed position in an array.
#include <cstddef>
#include <poll.h>
#include <vector>

namespace sbx::supervisor {

/// The descriptors one poll() waits on, rebuilt each turn.
class PollSet {
 public:
  /// A position in the set.
  using Slot = std::size_t;

  /// Wait for `events` on `fd` (a negative fd is allowed: poll ignores it and reports nothing).
  Slot add(int fd, short events) {
    fds_.push_back({fd, events, 0});
    return fds_.size() - 1;
  }
  /// Wait up to `timeout_ms` for any of them; returns poll's result.
  int wait(int timeout_ms) { return ::poll(fds_.data(), fds_.size(), timeout_ms); }
  /// What happened on `slot` in the last wait().
  short revents(Slot slot) const { return fds_[slot].revents; }
  /// True when the last wait() saw any of `mask` on `slot`.
  bool has(Slot slot, short mask) const { return (fds_[slot].revents & mask) != 0; }
  std::size_t size() const { return fds_.size(); }

 private:
  std::vector<pollfd> fds_;
};

/// Readable, or the peer is gone / the descriptor failed (a read will say which).
inline constexpr short kReadable = POLLIN | POLLHUP | POLLERR;

}  // namespace sbx::supervisor
