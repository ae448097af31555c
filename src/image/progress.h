#pragma once
// Progress of unpacking: a redrawn bar on a terminal, a few plain lines otherwise.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sbx::image {

/// Reports one task's bytes; draws on stderr when it is a terminal, else emits lines at 25%
/// steps through `lines` (which may be empty: then nothing is printed).
class ProgressMeter {
 public:
  ProgressMeter(std::function<void(std::string_view)> lines, std::string label, std::uint64_t total);
  ~ProgressMeter();
  /// `done` bytes of `total` so far.
  void update(std::uint64_t done);
  /// The task ended.
  void finish();

 private:
  std::function<void(std::string_view)> lines_;
  std::string label_;
  std::uint64_t total_ = 0;
  bool tty_ = false;
  bool finished_ = false;
  int last_step_ = -1;
  std::chrono::steady_clock::time_point last_draw_{};
};

/// "12.3 MiB".
std::string human_bytes(std::uint64_t n);

}  // namespace sbx::image
