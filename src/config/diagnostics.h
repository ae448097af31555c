#pragma once
// The diagnostics collector of the loader: every problem of one file with its line, column,
// source line and hint, bounded, sorted by position and returned as one Error at the end.
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace sbx::config {

/// At most this many diagnostics are kept for one file; the rest are counted as cut.
inline constexpr size_t kMaxDiagnostics = 50;

/// `s` with terminal control bytes escaped (\xNN) and cut to about `max` bytes ("...").
std::string printable(std::string_view s, size_t max = 80);

/// Collects the diagnostics of one file named `display` whose text is `text`.
class Diagnostics {
 public:
  /// Keeps the lines of `text` so each diagnostic can show its source line.
  Diagnostics(std::string_view text, std::string display);

  /// Record a problem at `line`:`column` (1-based; 0 when unknown).
  void add(int line, int column, std::string message, std::string hint = {});
  /// Whether nothing was recorded.
  bool empty() const { return diags_.empty(); }
  /// The name the file is shown by in messages.
  const std::string& display() const { return display_; }
  /// Every recorded problem as one `invalid` Error sorted by position; {} when there is none.
  Result<void> finish();

 private:
  std::string display_;
  std::vector<std::string> lines_;
  std::vector<Diagnostic> diags_;
  bool truncated_ = false;
};

}  // namespace sbx::config
