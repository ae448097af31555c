#pragma once
// The leash: what a Sandboxfile grants (host directories, egress, secrets, image, ports, the
// policy set, protected paths) and whether a new version grants more than the user last
// approved. The Sandboxfile lives in the workspace the agent may write, so `sbx up` applies a
// widening only after the user said yes (cli/cmd_up_approval.h). Nothing here boots anything.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::policy {
struct Policy;
}

namespace sbx::reconcile {

/// One host directory shared with the guest.
struct MountGrant {
  std::string source;  // resolved host path
  std::string target;
  bool writable = false;
  std::string at;  // "Sandboxfile:12", for the diff
};

/// One egress rule (allow or deny).
struct EgressGrant {
  std::string kind;  // exact, wildcard, regex, cidr
  std::string pattern;
  std::vector<std::uint16_t> ports;
  std::string text;  // as written
  std::string at;
};

/// One secret binding.
struct SecretGrant {
  std::string name;
  std::string inject;  // header or env
  std::vector<std::string> hosts;
  std::string header, value_template, env_var;
  std::string at;
};

struct PortGrant {
  std::string address;
  std::uint16_t host_port = 0;
  std::uint16_t guest_port = 0;
  std::string at;
};

/// One active policy: a policy that disappears or changes loosens what the sandbox is held to.
struct PolicyGrant {
  std::string name, origin, file, digest, signer;
};

/// The security-relevant part of a resolved Sandboxfile plus the policies it runs under.
struct Grants {
  std::vector<MountGrant> mounts;
  std::string egress_mode = "enforce";
  std::vector<EgressGrant> egress_allow;
  std::vector<EgressGrant> egress_deny;
  std::vector<SecretGrant> secrets;
  std::string image;  // "builtin:default", "registry.example/x:1@sha256:..."
  std::vector<PortGrant> ports;
  std::vector<PolicyGrant> policies;
  std::vector<std::string> protect;  // paths kept read-only in the guest (vmm/virtiofsd.h)
  bool trust_host_ca = false;         // [egress] trust_host_ca: the guest trusts the host's added CAs
  bool docker = false;                // [docker] enabled: a Docker daemon runs as root in the guest
};

/// The paths every read-write mount keeps read-only in the guest, relative to the mount's
/// source: files the host runs or reads later (SPEC.md "Protected paths").
const std::vector<std::string>& default_protect();

/// What `file` grants, under `policies` (policy_grants()).
Grants grants_of(const config::Sandboxfile& file, std::vector<PolicyGrant> policies);

/// The active policies as grants; each policy file's content is digested.
Result<std::vector<PolicyGrant>> policy_grants(const std::vector<policy::Policy>& policies);

/// What a new Sandboxfile may grant without a question: its own project directory read-only,
/// the built-in image ("builtin:default"), no egress, no secrets, no ports, the default protect list; any policy set.
Grants baseline_grants(const config::Sandboxfile& file, std::vector<PolicyGrant> policies);

/// One line of the difference between the approved and the desired grants.
struct Change {
  bool widens = false;  // grants something the approved state did not (or may: a new regex)
  std::string line;     // "+ egress allow \"*.com\" (Sandboxfile:12)", "- mount ..."
};

/// Every difference, widening ones first. Anything that cannot be shown to be covered by an
/// approved grant widens: a new regex, wildcard or CIDR not textually identical to an approved
/// one; a mount outside an approved source or ro -> rw; a new secret host; a removed deny rule,
/// policy or protected path; another image; a new port; enforce -> learn.
std::vector<Change> compare(const Grants& approved, const Grants& desired);

/// Whether any change widens.
bool any_widens(const std::vector<Change>& changes);

nlohmann::json grants_to_json(const Grants& g);
Result<Grants> grants_from_json(const nlohmann::json& j);

/// Where the approval of the Sandboxfile at `sandboxfile` is recorded: under the state directory,
/// named by the Sandboxfile's path (not the sandbox's name, which the file itself sets).
std::filesystem::path approval_record_path(const std::filesystem::path& sandboxfile);

/// The recorded approval, nullopt when there is none (a first `sbx up`).
Result<std::optional<Grants>> read_approval(const std::filesystem::path& record);

/// Record `g` as approved for `sandboxfile` (atomic, mode 0600).
Result<void> write_approval(const std::filesystem::path& record, const std::filesystem::path& sandboxfile,
                            const Grants& g);

}  // namespace sbx::reconcile
