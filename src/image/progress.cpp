#include "image/progress.h"

#include <cstdio>

namespace sbx::image {

std::string human_bytes(std::uint64_t n) {
  char buf[32];
  if (n >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(n) / (1ull << 30));
  else if (n >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1ull << 20));
  else if (n >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  return buf;
}

std::string progress_amount(std::uint64_t n, std::string_view unit) {
  return unit.empty() ? human_bytes(n) : std::to_string(n) + " " + std::string(unit);
}

ProgressMeter::ProgressMeter(ProgressSink sink, std::string label, std::uint64_t total, std::string unit)
    : sink_(std::move(sink)), label_(std::move(label)), total_(total), unit_(std::move(unit)) {
  emit(ProgressEvent::Phase::begin, 0);
}

ProgressMeter::~ProgressMeter() { finish(); }

void ProgressMeter::update(std::uint64_t done) {
  if (!finished_) emit(ProgressEvent::Phase::advance, done);
}

void ProgressMeter::finish() {
  if (finished_) return;
  emit(ProgressEvent::Phase::end, total_);
  finished_ = true;
}

void ProgressMeter::emit(ProgressEvent::Phase phase, std::uint64_t done) {
  if (sink_) sink_(ProgressEvent{phase, label_, done, total_, unit_});
}

}  // namespace sbx::image
