#pragma once
// A loaded policy file: what a team that owns the machines allows any sandbox on them. Produced
// only by the policy loader (loader.h); every rule keeps the file:line:col it was written at, so
// a violation can name the rule it breaks. Absent optionals mean "this policy says nothing".
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"

namespace sbx::policy {

/// What a violation of a policy does: stop `sbx up` and `sbx validate`, or print a warning.
enum class Enforcement { enforce, warn };

/// Where a policy was found; decides whether it must be signed (system) and how it is listed.
enum class Origin { baseline, system, user, env };

/// A key that was written, with where.
template <class T>
struct Setting {
  T value{};
  Location where;
};

/// One entry of a path list, as written ("~/.ssh", "@sbx-state", "/"); resolved when checked.
struct PathEntry {
  std::string written;
  Location where;
};

/// One entry of a pattern list (image references, secret names): `*`, `**` and `?` globs.
struct PatternEntry {
  std::string pattern;
  Location where;
};

struct ImageRules {
  std::optional<Setting<std::vector<PatternEntry>>> allow;  // the image must match one
  std::optional<Setting<bool>> require_digest;
};

struct MountRules {
  std::vector<PathEntry> deny;         // the path, everything inside it, every directory holding it
  std::vector<PathEntry> deny_itself;  // the path and every directory holding it; inside is fine
  std::vector<PathEntry> read_only;    // a mount of it, inside it or holding it must be ro
  std::optional<Setting<std::uint64_t>> max;
  std::optional<Setting<bool>> allow_rw;
  std::vector<PatternEntry> protect;   // relative paths each rw mount must keep read-only in the guest
};

struct EgressRules {
  std::vector<config::EgressRule> deny;                               // never reachable
  std::optional<Setting<std::vector<config::EgressRule>>> ceiling;    // all a sandbox may reach
  std::optional<Setting<bool>> allow_ip_literals;
  std::optional<Setting<bool>> allow_cidrs;
  std::optional<Setting<bool>> allow_private_ranges;
  std::optional<Setting<bool>> allow_learn;
};

/// `[[secrets.allow]]`: these secret names may be bound to these hosts (and, if listed, env).
struct SecretGrant {
  std::vector<PatternEntry> names;
  std::vector<config::EgressRule> hosts;  // host patterns; ports are not considered
  bool header = true;                     // inject = "header" is granted
  bool env = false;                       // inject = "env" is granted
  Location where;
};

struct SecretRules {
  std::vector<PatternEntry> deny;                               // names never bound
  std::optional<Setting<std::vector<SecretGrant>>> allow;       // each binding needs a grant
  std::optional<Setting<bool>> allow_env;
};

struct ResourceRules {
  std::optional<Setting<unsigned>> max_cpus;
  std::optional<Setting<std::uint64_t>> max_memory;
  std::optional<Setting<std::uint64_t>> max_disk;
};

struct AgentRules {
  std::optional<Setting<std::vector<std::string>>> allow;  // preset names, "custom" included
};

struct DockerRules {
  std::optional<Setting<bool>> allow;
};

/// One policy file.
struct Policy {
  int version = 1;
  std::string name;                 // `name`, else the file name without .toml
  std::string description;
  Enforcement enforcement = Enforcement::enforce;
  Origin origin = Origin::env;
  std::filesystem::path file;       // where it was read from ("" for the built-in baseline)
  std::string display;              // how messages name it (Location::file of every rule)
  std::string signer;               // the trusted key that signed it, "" when unsigned
  ImageRules images;
  MountRules mounts;
  EgressRules egress;
  SecretRules secrets;
  ResourceRules resources;
  AgentRules agents;
  DockerRules docker;
};

std::string_view to_string(Enforcement e);
std::string_view to_string(Origin o);

}  // namespace sbx::policy
