#include "policy/glob.h"

#include <vector>

namespace sbx::policy {

// Iterative matching with one table row per pattern position: linear in |pattern| * |text|,
// so no pattern can make it backtrack exponentially.
bool glob_match(std::string_view pattern, std::string_view text) {
  const size_t n = text.size();
  std::vector<char> cur(n + 1, 0), next(n + 1, 0);
  cur[0] = 1;  // the empty prefix of the pattern matches the empty prefix of the text
  size_t i = 0;
  while (i < pattern.size()) {
    std::fill(next.begin(), next.end(), 0);
    if (pattern[i] == '*') {
      const bool deep = i + 1 < pattern.size() && pattern[i + 1] == '*';
      for (size_t j = 0; j <= n; ++j) {
        if (!cur[j] && !(j > 0 && next[j - 1] && (deep || text[j - 1] != '/'))) continue;
        next[j] = 1;
      }
      i += deep ? 2 : 1;
    } else {
      for (size_t j = 0; j < n; ++j)
        if (cur[j] && (pattern[i] == '?' ? text[j] != '/' : pattern[i] == text[j])) next[j + 1] = 1;
      ++i;
    }
    std::swap(cur, next);
  }
  return cur[n] != 0;
}

}  // namespace sbx::policy
