#pragma once
// Progress of long byte-counted tasks (hashing, unpacking, pulling). The library only reports
// it, through a sink the caller passes; the caller decides how (and whether) to show it.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sbx::image {

/// One report of a task's bytes.
struct ProgressEvent {
  enum class Phase { begin, advance, end };
  Phase phase = Phase::advance;
  std::string_view label;  // names the task, unique while it runs: "unpacking layer 1/3 0123456789ab"
  std::uint64_t done = 0;  // bytes so far (total at end)
  std::uint64_t total = 0;
  std::string_view unit;   // what done and total count: "" for bytes, else a plural noun ("phases")
};

/// Receives every event of every task, in order; empty: nothing is reported.
using ProgressSink = std::function<void(const ProgressEvent&)>;

/// Reports one task to a sink: begin when made, advance on update(), end on finish() (or when
/// destroyed). Prints nothing itself.
class ProgressMeter {
 public:
  ProgressMeter(ProgressSink sink, std::string label, std::uint64_t total, std::string unit = {});
  ~ProgressMeter();
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;
  /// `done` bytes of `total` so far.
  void update(std::uint64_t done);
  /// The task ended.
  void finish();

 private:
  void emit(ProgressEvent::Phase phase, std::uint64_t done);

  ProgressSink sink_;
  std::string label_;
  std::uint64_t total_ = 0;
  std::string unit_;
  bool finished_ = false;
};

/// "12.3 MiB".
std::string human_bytes(std::uint64_t n);

/// `n` in the event's unit: human_bytes() for bytes, else "3 phases".
std::string progress_amount(std::uint64_t n, std::string_view unit);

}  // namespace sbx::image
