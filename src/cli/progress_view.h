#pragma once
// How a person sees the image library's byte progress on stderr.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "cli/output.h"
#include "image/progress.h"

namespace sbx::cli {

/// Renders ProgressEvents for a person: with `tty` one bar per task, redrawn in place through
/// `out` at most every 100 ms ("sbx: LABEL [####....]  42% 1.0 MiB / 2.4 MiB"); otherwise plain
/// lines through `line` at 0/25/50/75/100% ("LABEL: 25% of 2.4 MiB", "LABEL: done, 2.4 MiB").
class ProgressView {
 public:
  ProgressView(Output out, bool tty, std::function<void(std::string_view)> line);
  void operator()(const image::ProgressEvent& event);

 private:
  struct Task {
    int last_step = -1;
    std::chrono::steady_clock::time_point last_draw{};
  };
  void advance(const image::ProgressEvent& event, Task& task);

  Output out_;
  bool tty_ = false;
  std::function<void(std::string_view)> line_;
  std::map<std::string, Task, std::less<>> tasks_;  // by label; tasks may overlap briefly
};

}  // namespace sbx::cli
