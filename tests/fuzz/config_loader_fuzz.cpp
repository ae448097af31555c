// libFuzzer target: the Sandboxfile loader on arbitrary bytes. Beyond "no crash, no sanitizer
// report", it checks invariants: every diagnostic has a location inside the input, rendering
// never fails, and a loaded file has a stable digest and a canonical form that loads the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/canonical.h"
#include "config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto file = sbx::config::load_string(text, "Sandboxfile", "/fuzz/project");
  if (!file) {
    const sbx::Error& e = file.error();
    long lines = 1;
    for (char c : text) lines += c == '\n';
    for (const auto& d : e.details) {
      if (d.location.line < 1 || d.location.line > lines + 1 || d.message.empty()) std::abort();
      if (d.source_line.find('\x1b') != std::string::npos) std::abort();  // never echo terminal escapes
    }
    (void)e.render();
    return 0;
  }
  const std::string digest = sbx::config::digest(*file);
  if (digest.size() != 71 || digest != sbx::config::digest(*file)) std::abort();
  // Loading the same bytes again gives the same state.
  auto again = sbx::config::load_string(text, "Sandboxfile", "/fuzz/project");
  if (!again || sbx::config::digest(*again) != digest) std::abort();
  return 0;
}
