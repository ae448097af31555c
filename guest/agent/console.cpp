#include "guest/agent/console.h"

#include <cstdio>
#include <string>
#include <time.h>
#include <unistd.h>

namespace sbx::guest::agent {

std::int64_t uptime_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void say(std::string_view message) {
  auto ms = uptime_ms();
  char prefix[48];
  std::snprintf(prefix, sizeof prefix, "sbx-guest [%4lld.%03lld] ", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  std::string line = prefix;
  line.append(message);
  line.push_back('\n');
  // One write per line so lines from different moments do not interleave.
  [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
}

}  // namespace sbx::guest::agent
