#include "image/progress.h"

#include <cstdio>
#include <unistd.h>

namespace sbx::image {

std::string human_bytes(std::uint64_t n) {
  char buf[32];
  if (n >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(n) / (1ull << 30));
  else if (n >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1ull << 20));
  else if (n >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  return buf;
}

ProgressMeter::ProgressMeter(std::function<void(std::string_view)> lines, std::string label, std::uint64_t total)
    : lines_(std::move(lines)), label_(std::move(label)), total_(total) {
  // A bar only for a person watching: progress lines requested and stderr is a terminal.
  tty_ = lines_ && ::isatty(2) == 1;
  update(0);
}

ProgressMeter::~ProgressMeter() { finish(); }

void ProgressMeter::update(std::uint64_t done) {
  if (!lines_ || finished_) return;
  const int pct = total_ ? static_cast<int>(std::min<std::uint64_t>(100, done * 100 / total_)) : 0;
  if (tty_) {
    const auto now = std::chrono::steady_clock::now();
    if (done != 0 && done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    constexpr int kWidth = 30;
    const int fill = pct * kWidth / 100;
    std::string bar(static_cast<std::size_t>(fill), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\rsbx: %s [%s] %3d%% %s / %s\033[K", label_.c_str(), bar.c_str(), pct,
                 human_bytes(done).c_str(), human_bytes(total_).c_str());
    std::fflush(stderr);
    return;
  }
  const int step = pct / 25;
  if (step == last_step_) return;
  last_step_ = step;
  lines_(label_ + ": " + std::to_string(pct) + "% of " + human_bytes(total_));
}

void ProgressMeter::finish() {
  if (!lines_ || finished_) return;
  if (tty_) {
    update(total_);
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
  } else if (last_step_ != 4) {
    lines_(label_ + ": done, " + human_bytes(total_));
  }
  finished_ = true;
}

}  // namespace sbx::image
