#include "config/diagnostics.h"

#include <algorithm>
#include <utility>

namespace sbx::config {

namespace {

// Control characters of a source line become '?' so the caret line stays aligned.
std::string printable_line(std::string_view s) {
  std::string out;
  for (char c : s) out += (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f ? '?' : c;
  return out;
}

}  // namespace

// Escape what a terminal would interpret; cut long values so one message stays one line.
std::string printable(std::string_view s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Diagnostics::Diagnostics(std::string_view text, std::string display) : display_(std::move(display)) {
  std::string line;
  for (char c : text) {
    if (c == '\n') {
      lines_.push_back(std::move(line));
      line.clear();
    } else if (c != '\r') {
      line += c;
    }
  }
  lines_.push_back(std::move(line));
}

void Diagnostics::add(int line, int column, std::string message, std::string hint) {
  if (diags_.size() >= kMaxDiagnostics) {
    truncated_ = true;
    return;
  }
  Diagnostic d;
  d.location = Location{display_, line, column};
  d.message = std::move(message);
  d.hint = std::move(hint);
  if (line > 0 && static_cast<size_t>(line) <= lines_.size()) {
    const std::string& src = lines_[static_cast<size_t>(line) - 1];
    // A huge line would flood the terminal; keep the caret only when it stays readable.
    if (src.size() <= 200) d.source_line = printable_line(src);
    else if (column > 0 && column <= 150) d.source_line = printable_line(src.substr(0, 200)) + "...";
  }
  diags_.push_back(std::move(d));
}

Result<void> Diagnostics::finish() {
  if (diags_.empty()) return {};
  std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::pair{a.location.line, a.location.column} < std::pair{b.location.line, b.location.column};
  });
  Error err;
  err.code = ErrorCode::invalid;
  err.location = diags_.front().location;
  const size_t n = diags_.size();
  err.message = display_ + ": " + std::to_string(n) + (n == 1 ? " error" : " errors") +
                (truncated_ ? " (stopped after " + std::to_string(kMaxDiagnostics) + ")" : "");
  err.hint = diags_.front().hint;
  err.details = std::move(diags_);
  diags_.clear();
  return std::unexpected(std::move(err));
}

}  // namespace sbx::config
