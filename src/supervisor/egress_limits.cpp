#include "supervisor/egress_limits.h"

#include <sys/stat.h>

namespace sbx::supervisor {
namespace fs = std::filesystem;

// Where to look for the organisation's policies: what launch.json says (the sbx up that applied
// the rules), else this process's own environment (a launch.json written before it said).
policy::Sources policy_sources(const Launch& launch) {
  if (!launch.egress.policies) return policy::absolute_sources(policy::current_sources());
  const auto& p = *launch.egress.policies;
  policy::Sources s{p.system_config, p.user_policies, {}};
  for (const auto& e : p.path) s.path.emplace_back(e);
  return s;
}

// The ceilings and deny lists of every active policy. Anything that cannot be read, parsed or
// verified (a tampered system policy, an unreadable launch.json) comes back broken, and the
// proxy refuses everything with the reason: never "no ceiling".
proxy::Limits load_limits(const policy::Sources& sources) {
  auto found = policy::discover_policies(sources);
  if (!found) return proxy::Limits{{}, found.error().message};
  proxy::Limits out;
  for (const policy::Policy& p : *found) {
    proxy::PolicyLimit l;
    l.name = p.name;
    l.enforce = p.enforcement == policy::Enforcement::enforce;
    if (p.egress.ceiling) {
      l.has_ceiling = true;
      l.ceiling = p.egress.ceiling->value;
      l.ceiling_at = p.egress.ceiling->where;
    }
    l.deny = p.egress.deny;
    out.policies.push_back(std::move(l));
  }
  return out;
}

proxy::Limits load_sandbox_limits(const fs::path& dir) {
  auto text = read_small_file(dir / "launch.json");
  if (!text) return proxy::Limits{{}, text.error().message};
  auto launch = launch_from_json(*text, (dir / "launch.json").string());
  if (!launch) return proxy::Limits{{}, launch.error().message};
  return load_limits(policy_sources(*launch));
}

// What load_sandbox_limits() would read, summarised; launch.json is re-read only when it changes.
std::function<std::string()> limits_fingerprint(const fs::path& dir) {
  struct Seen {
    std::string launch_stamp;
    policy::Sources sources;
  };
  auto seen = std::make_shared<Seen>();
  return [dir, seen] {
    const fs::path file = dir / "launch.json";
    struct stat s {};
    std::string stamp = "-";
    if (::stat(file.c_str(), &s) == 0)
      stamp = std::to_string(s.st_ino) + " " + std::to_string(s.st_size) + " " + std::to_string(s.st_mtim.tv_sec) + "." +
              std::to_string(s.st_mtim.tv_nsec);
    if (stamp != seen->launch_stamp) {
      seen->launch_stamp = stamp;
      auto text = read_small_file(file);
      auto launch = text ? launch_from_json(*text, file.string()) : Result<Launch>(std::unexpected(text.error()));
      if (launch) seen->sources = policy_sources(*launch);
    }
    return stamp + "\n" + policy::sources_fingerprint(seen->sources);
  };
}

}  // namespace sbx::supervisor
