#include "reconcile/host_resources.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sched.h>
#include <sstream>
#include <unistd.h>

#include "config/defaults.h"
#include "config/units.h"
#include "reconcile/launch_builder.h"

namespace sbx::reconcile {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30;
constexpr std::uint64_t kMinMemory = 64 * kMiB;  // the smallest size the loader accepts

// "MemTotal:       24576000 kB" -> bytes, for the line starting with `key`.
bool meminfo_value(std::string_view text, std::string_view key, std::uint64_t& bytes) {
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (!line.starts_with(key) || line.size() <= key.size() || line[key.size()] != ':') continue;
    line.remove_prefix(key.size() + 1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    std::uint64_t kib = 0;
    const auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), kib);
    if (ec != std::errc() || std::string_view(p, line.data() + line.size()) != " kB") return false;
    bytes = kib * 1024;
    return true;
  }
  return false;
}

unsigned usable_cpus() {
  // Room for large machines; CPU_ALLOC sizes the mask for the kernel's CPU numbers.
  for (int n = 1024; n <= 1 << 16; n *= 4) {
    cpu_set_t* set = CPU_ALLOC(n);
    if (!set) break;
    const size_t size = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(size, set);
    const bool ok = ::sched_getaffinity(0, size, set) == 0;
    const int count = ok ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (ok) return static_cast<unsigned>(count);
    if (errno != EINVAL) break;
  }
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<unsigned>(online) : 1;
}

// The largest Sandboxfile size not above `bytes`: whole GiB from 1 GiB up, else whole MiB.
std::string largest_size_within(std::uint64_t bytes) {
  if (bytes >= kGiB) return config::format_size(bytes / kGiB * kGiB);
  return config::format_size(std::max(bytes / kMiB * kMiB, kMinMemory));
}

}  // namespace

std::string approx_size(std::uint64_t bytes) {
  char buf[32];
  if (bytes >= kGiB) std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / kGiB);
  else std::snprintf(buf, sizeof buf, "%llu MiB", static_cast<unsigned long long>(bytes / kMiB));
  return buf;
}

Result<HostFacts> parse_meminfo(std::string_view text) {
  HostFacts f;
  if (!meminfo_value(text, "MemTotal", f.memory_total) || f.memory_total == 0)
    return fail(ErrorCode::runtime, "/proc/meminfo has no MemTotal line sbx can read");
  // Kernels before 3.14 have no MemAvailable; MemFree is the closer-to-safe stand-in there.
  if (!meminfo_value(text, "MemAvailable", f.memory_available) && !meminfo_value(text, "MemFree", f.memory_available))
    return fail(ErrorCode::runtime, "/proc/meminfo has no MemAvailable line sbx can read");
  return f;
}

Result<HostFacts> read_host_facts() {
  std::ifstream in("/proc/meminfo");
  if (!in) return fail(ErrorCode::io, "cannot read /proc/meminfo", "sbx needs /proc mounted to size a sandbox");
  std::ostringstream s;
  s << in.rdbuf();
  auto f = SBX_TRY(parse_meminfo(s.str()));
  f.cpus = usable_cpus();
  return f;
}

ResourceCeilings host_ceilings(const HostFacts& host) {
  return {host.memory_total, host.cpus, "this host's RAM", "the CPUs sbx may use on this host"};
}

ResourceFit check_resources(const config::Resources& requested, const HostFacts& host, const ResourceCeilings& ceilings) {
  ResourceFit fit;
  const std::uint64_t memory = requested.memory_bytes ? requested.memory_bytes : config::kDefaultMemoryBytes;
  const unsigned cpus = requested.cpus ? requested.cpus : config::kDefaultCpus;
  if (cpus > ceilings.cpus) {
    fit.problems.push_back("cpus = " + std::to_string(cpus) + " is more than " + ceilings.cpus_source + " (" +
                           std::to_string(ceilings.cpus) + ")");
    fit.hints.push_back("set [resources] cpus = " + std::to_string(std::max(ceilings.cpus, 1u)) + " or less");
  }
  if (memory > ceilings.memory_bytes) {
    fit.problems.push_back("memory = \"" + config::format_size(memory) + "\" is more than " + ceilings.memory_source + " (" +
                           approx_size(ceilings.memory_bytes) + ")");
    fit.hints.push_back("set [resources] memory = \"" + largest_size_within(ceilings.memory_bytes) + "\" or less");
  } else if (memory > host.memory_available) {
    // Guest RAM is touched lazily: a large guest boots, but the host pays once it fills it.
    fit.warnings.push_back("memory = \"" + config::format_size(memory) + "\" is more than the host has available now (" +
                           approx_size(host.memory_available) + " of " + approx_size(host.memory_total) +
                           "): if the guest uses it all, the host swaps or its OOM killer may end the sandbox");
  }
  return fit;
}

Result<void> refuse_unless_fits(const ResourceFit& fit, const std::string& sandbox, const std::string& file) {
  if (fit.fits()) return {};
  std::string message = "sandbox '" + sandbox + "' asks for more than it can have: ", hint;
  for (size_t i = 0; i < fit.problems.size(); ++i) {
    message += (i ? "; " : "") + fit.problems[i];
    hint += (i ? "; " : "") + fit.hints[i];
  }
  return fail(ErrorCode::invalid, message, hint, Location{file, 0, 0});
}

}  // namespace sbx::reconcile
