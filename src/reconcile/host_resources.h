#pragma once
// Whether the host can give a sandbox the CPUs and memory its Sandboxfile asks for. `sbx up`
// refuses a request above a ceiling before building or booting anything; `sbx plan` shows the fit.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::reconcile {

/// What this host has, as the kernel reports it.
struct HostFacts {
  std::uint64_t memory_total = 0;      // MemTotal of /proc/meminfo, bytes
  std::uint64_t memory_available = 0;  // MemAvailable: what can be used now without swapping
  unsigned cpus = 0;                   // CPUs this process may run on (sched_getaffinity)
};

/// The most a sandbox may ask for. The host's size by default; a policy may pass lower ones.
struct ResourceCeilings {
  std::uint64_t memory_bytes = 0;
  unsigned cpus = 0;
  std::string memory_source;           // what the ceiling is, for the message: "this host's RAM"
  std::string cpus_source;
};

/// How a request fits: `problems` refuse it (each with its fix), `warnings` do not.
struct ResourceFit {
  std::vector<std::string> problems;
  std::vector<std::string> hints;      // one per problem: the largest value that fits
  std::vector<std::string> warnings;
  bool fits() const { return problems.empty(); }
};

/// MemTotal and MemAvailable from the text of /proc/meminfo; an Error when either is missing.
Result<HostFacts> parse_meminfo(std::string_view text);

/// Read /proc/meminfo and this process's CPU affinity.
Result<HostFacts> read_host_facts();

/// The ceilings of a host with no policy: its physical RAM and the CPUs sbx may use.
ResourceCeilings host_ceilings(const HostFacts& host);

/// Compare a request with the ceilings (refusals) and with the memory available now (a warning).
ResourceFit check_resources(const config::Resources& requested, const HostFacts& host, const ResourceCeilings& ceilings);

/// The refusal as one Error (every problem named, every fix in the hint), located at `file`;
/// nothing when the request fits.
Result<void> refuse_unless_fits(const ResourceFit& fit, const std::string& sandbox, const std::string& file);

/// "23.4 GiB": a byte count rounded for people (not a Sandboxfile size).
std::string approx_size(std::uint64_t bytes);

}  // namespace sbx::reconcile
