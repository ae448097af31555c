#include "common/error.h"

namespace sbx {

std::string Location::str() const {
  if (file.empty()) return {};
  std::string s = file;
  if (line > 0) {
    s += ':' + std::to_string(line);
    if (column > 0) s += ':' + std::to_string(column);
  }
  return s;
}

std::string render_diagnostic(const Diagnostic& d) {
  std::string out;
  if (d.location.known()) out += d.location.str() + ": ";
  out += "error: " + d.message + '\n';
  if (!d.source_line.empty() && d.location.line > 0) {
    const std::string gutter = std::to_string(d.location.line);
    out += ' ' + gutter + " | " + d.source_line + '\n';
    out += ' ' + std::string(gutter.size(), ' ') + " | ";
    if (d.location.column > 0) {
      // Keep tabs so the caret lines up under the column in the terminal.
      for (int i = 0; i < d.location.column - 1 && i < static_cast<int>(d.source_line.size()); ++i)
        out += d.source_line[i] == '\t' ? '\t' : ' ';
      out += '^';
    }
    out += '\n';
  }
  if (!d.hint.empty()) out += "  hint: " + d.hint + '\n';
  return out;
}

std::string Error::render() const {
  if (!details.empty()) {
    std::string out;
    for (const auto& d : details) out += render_diagnostic(d);
    if (!message.empty()) out += message + '\n';
    return out;
  }
  return render_diagnostic(Diagnostic{location, message, hint, {}});
}

}  // namespace sbx
