#include "supervisor/budget.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/resource.h>

namespace sbx::supervisor {
namespace fs = std::filesystem;

std::size_t proxy_stream_budget(std::uint64_t nofile) {
  constexpr std::uint64_t kMax = 4096, kMin = 16;
  if (nofile <= kReservedFds + kMin) return kMin;
  return static_cast<std::size_t>(std::min(kMax, nofile - kReservedFds));
}

Budgets budgets_for_this_process() {
  Budgets b;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    const rlim_t want = rl.rlim_max == RLIM_INFINITY ? 65536 : std::min<rlim_t>(rl.rlim_max, 65536);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
      rlimit raised = rl;
      raised.rlim_cur = want;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    b.proxy_streams = proxy_stream_budget(rl.rlim_cur == RLIM_INFINITY ? 65536 : rl.rlim_cur);
  }
  return b;
}

RotatingLog::RotatingLog(fs::path file, std::uint64_t max_bytes, int keep)
    : file_(std::move(file)), max_(max_bytes == 0 ? 1 : max_bytes), keep_(std::max(keep, 0)) {
  std::error_code ec;
  const auto existing = fs::file_size(file_, ec);
  size_ = ec ? 0 : existing;
}

RotatingLog::~RotatingLog() {
  if (out_) std::fclose(out_);
}

bool RotatingLog::open() {
  if (out_) return true;
  out_ = std::fopen(file_.c_str(), "ae");
  if (!out_) {
    error_ = "cannot open " + file_.string() + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

void RotatingLog::rotate() {
  if (out_) std::fclose(out_);
  out_ = nullptr;
  std::error_code ec;
  const auto numbered = [this](int i) { return fs::path(file_.string() + "." + std::to_string(i)); };
  if (keep_ == 0) {
    fs::remove(file_, ec);
  } else {
    fs::remove(numbered(keep_), ec);
    for (int i = keep_ - 1; i >= 1; --i) fs::rename(numbered(i), numbered(i + 1), ec);
    fs::rename(file_, numbered(1), ec);
  }
  size_ = 0;
  ++rotations_;
}

bool RotatingLog::append(std::string_view data) {
  while (!data.empty()) {
    // Whole writes stay in one file when they fit in one (log lines are not split).
    if (size_ >= max_ || (size_ > 0 && data.size() <= max_ && size_ + data.size() > max_)) rotate();
    if (!open()) {
      dropped_ += data.size();
      return false;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), max_ - size_));
    const std::size_t w = std::fwrite(data.data(), 1, n, out_);
    if (std::fflush(out_) != 0 || w != n) {
      error_ = "cannot write " + file_.string() + ": " + std::strerror(errno);
      dropped_ += data.size() - w;
      size_ += w;
      total_ += w;
      return false;
    }
    size_ += n;
    total_ += n;
    data.remove_prefix(n);
  }
  return true;
}

}  // namespace sbx::supervisor
