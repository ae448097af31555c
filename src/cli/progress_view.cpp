#include "cli/progress_view.h"

#include <algorithm>
#include <cstdio>

namespace sbx::cli {

using image::ProgressEvent;

ProgressView::ProgressView(Output out, bool tty, std::function<void(std::string_view)> line)
    : out_(out), tty_(tty), line_(std::move(line)) {}

void ProgressView::operator()(const ProgressEvent& event) {
  auto it = tasks_.find(event.label);
  if (event.phase == ProgressEvent::Phase::begin || it == tasks_.end())
    it = tasks_.insert_or_assign(std::string(event.label), Task{}).first;
  Task& task = it->second;
  if (event.phase != ProgressEvent::Phase::end) {
    advance(event, task);
    return;
  }
  if (tty_) {
    advance(event, task);  // done == total: always drawn
    out_.end_redraw();
  } else if (task.last_step != 4) {
    line_(std::string(event.label) + ": done, " + image::progress_amount(event.total, event.unit));
  }
  tasks_.erase(it);
}

void ProgressView::advance(const ProgressEvent& e, Task& task) {
  const int pct = e.total ? static_cast<int>(std::min<std::uint64_t>(100, e.done * 100 / e.total)) : 0;
  if (tty_) {
    const auto now = std::chrono::steady_clock::now();
    if (e.done != 0 && e.done < e.total && now - task.last_draw < std::chrono::milliseconds(100)) return;
    task.last_draw = now;
    constexpr int kWidth = 30;
    const int fill = pct * kWidth / 100;
    std::string bar(static_cast<std::size_t>(fill), '#');
    bar.resize(kWidth, '.');
    char pct_text[8];
    std::snprintf(pct_text, sizeof pct_text, "%3d%%", pct);
    out_.redraw(std::string(e.label) + " [" + bar + "] " + pct_text + " " + image::progress_amount(e.done, e.unit) + " / " +
                image::progress_amount(e.total, e.unit));
    return;
  }
  const int step = pct / 25;
  if (step == task.last_step) return;
  task.last_step = step;
  line_(std::string(e.label) + ": " + std::to_string(pct) + "% of " + image::progress_amount(e.total, e.unit));
}

}  // namespace sbx::cli
