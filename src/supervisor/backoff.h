#pragma once
// How soon a dead child (the egress proxy) is started again: 0.2 s, doubling to 10 s at most;
// a child that ran healthy for 30 s starts the next death at 0.2 s again.
#include <algorithm>
#include <chrono>
#include <optional>

namespace sbx::supervisor {

/// Restart delays for one child process.
class Backoff {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kFirst{200}, kMax{10000};
  static constexpr std::chrono::seconds kHealthy{30};

  /// The child died at `now`: how long to wait before starting it again.
  std::chrono::milliseconds on_death(Clock::time_point now) {
    if (ready_since_ && now - *ready_since_ >= kHealthy) next_ = kFirst;
    ready_since_.reset();
    const auto delay = next_;
    next_ = std::min(next_ * 2, kMax);
    return delay;
  }
  /// The child said it is ready at `now`.
  void on_ready(Clock::time_point now) { ready_since_ = now; }
  /// Forget past deaths (a user asked for a restart now).
  void reset() {
    next_ = kFirst;
    ready_since_.reset();
  }

 private:
  std::chrono::milliseconds next_ = kFirst;
  std::optional<Clock::time_point> ready_since_;
};

}  // namespace sbx::supervisor
