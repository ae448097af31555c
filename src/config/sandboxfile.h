#pragma once
// The resolved Sandboxfile: the one desired-state type every other part of sbx reads.
// Produced only by the loader (loader.h), immutable afterwards, with every default filled in,
// every unit and path normalised, and the source location of each item kept for messages.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "config/defaults.h"

namespace sbx::config {

/// The preset name `custom`: the file gives a command and no preset.
inline constexpr const char* kCustomPreset = "custom";

/// The agent CLI an image layer installs with `npm install -g NAME@VERSION` (dev image only).
struct NpmPackage {
  std::string name;                          // "@anthropic-ai/claude-code"
  std::string version;                       // an exact version, a dist-tag ("latest") or a range
  std::string bin;                           // the command it puts on PATH ("claude")
};

struct Agent {
  std::string preset = "shell";              // a preset's name (config/presets/*.toml), or "custom"
  std::vector<std::string> command;          // argv[0] and its arguments; filled from the preset if absent
  std::vector<std::string> headless;         // the non-interactive form ("claude", "-p"), from the preset
  std::optional<NpmPackage> package;         // the CLI the dev image gets as a layer
  std::map<std::string, std::string> env;    // extra environment inside the VM
  std::string workdir;                       // absolute path inside the VM
  std::string user;                          // user name inside the VM (unprivileged)
  // Which of these the file wrote; an image's Entrypoint/Cmd, WorkingDir and User fill the rest.
  bool command_given = false;                // preset, command or args
  bool workdir_given = false;
  bool user_given = false;
  Location location;
};

/// `dev` is sbx's Debian dev image (image/dev_image.h), with the agent's layer when [agent] has a package.
/// `saved` is an image `sbx save` made from a sandbox (image/saved_image.h), named "saved:NAME".
enum class ImageKind { builtin, rootfs_dir, oci_archive, registry, dev, saved };

struct Image {
  ImageKind kind = ImageKind::builtin;
  std::string reference;                     // "builtin:default", "dev", "saved:NAME", an absolute path, or registry/name:tag
  std::optional<std::string> digest;         // "sha256:<64 hex>" pin, if given
  Location location;
};

struct Resources {
  unsigned cpus = kDefaultCpus;
  std::uint64_t memory_bytes = kDefaultMemoryBytes;
  std::uint64_t disk_bytes = kDefaultDiskBytes;
  Location location;                         // the [resources] table, when written
};

/// How long the guest may trust what it has seen of a mount before asking the host again.
/// (virtiofsd's `cache=none` is not offered: under load it stalled Debian's virtiofsd here.)
enum class MountCache {
  auto_,   // names and attributes for 1 s, file data until the host file changes (the default)
  always,  // until the guest itself changes them: host-side edits may stay unseen
};

struct Mount {
  std::filesystem::path source;              // absolute, normalised, `~` expanded
  std::string target;                        // absolute path inside the VM
  bool writable = false;                     // read-only unless `mode = "rw"`
  MountCache cache = MountCache::auto_;      // `cache = "auto" | "always"`
  // `local`: paths under the target (relative, normalised) that live on the sandbox disk instead
  // of the share: hidden from the host, kept across restarts, removed with the sandbox.
  std::vector<std::string> local;
  Location location;
};

/// One `[[port]]`: a TCP port on the host forwarded over the channel to a port inside the VM.
struct Port {
  std::string host_address = "127.0.0.1";    // the literal the host listens on (loopback unless written)
  std::uint16_t host_port = 0;
  std::uint16_t guest_port = 0;              // on 127.0.0.1 inside the VM
  Location location;
};

enum class HostPatternKind {
  exact,     // "api.github.com"
  wildcard,  // "*.npmjs.org": any subdomain (not the apex)
  regex,     // "re:^api[0-9]+\\.example\\.com$": RE2, matched against the whole lower-case host
  cidr,      // "10.0.0.0/8" or "::1/128": only IP literals or resolved addresses in range
};

/// One allow or deny rule of [egress].
struct EgressRule {
  HostPatternKind kind = HostPatternKind::exact;
  std::string pattern;                       // normalised: lower case, no trailing dot; regex without "re:"
  std::vector<std::uint16_t> ports;          // sorted, unique; the loader fills 80 and 443 when none are written
  std::string text;                          // the rule as written, for messages
  Location location;
};

enum class EgressMode { enforce, learn };

struct Egress {
  EgressMode mode = EgressMode::enforce;     // default deny
  std::vector<EgressRule> allow;
  std::vector<EgressRule> deny;              // deny beats allow
  bool trust_host_ca = false;                // the guest also trusts the CAs the host's administrator added
  Location location;                         // the [egress] table, when written
};

enum class InjectKind { header, env };

/// A binding of a secret from the host store to the wire (header) or, weaker, the guest env.
struct Secret {
  std::string name;                          // key in the host secret store
  InjectKind inject = InjectKind::header;
  std::vector<std::string> hosts;            // header: exact hosts the header is added for
  std::string header;                        // header: e.g. "Authorization"
  std::string value_template = "{}";         // header: "{}" is replaced by the secret, e.g. "Bearer {}"
  std::string env_var;                       // env: the variable name inside the VM
  Location location;
};

/// [docker]: a private Docker daemon inside the VM (dockerd started by the guest agent, its
/// state on the sandbox disk, its pulls and its containers' traffic through the egress proxy).
struct Docker {
  bool enabled = false;
  // Registries dockerd may reach over plain HTTP ("host:port", lower case); still only through
  // the egress proxy and its rules.
  std::vector<std::string> insecure_registries;
  Location location;                         // the [docker] table, when written
};

/// The whole resolved Sandboxfile.
struct Sandboxfile {
  int version = 1;
  std::string name;                          // default: the project directory's name, sanitised
  std::filesystem::path file;                // absolute path of the Sandboxfile
  std::filesystem::path project_dir;         // the directory holding it
  Agent agent;
  Image image;
  Resources resources;
  std::vector<Mount> mounts;
  std::vector<Port> ports;
  Egress egress;
  std::vector<Secret> secrets;
  Docker docker;
  // `protect`: more paths, relative to each read-write mount's source, kept read-only in the guest
  // (besides reconcile::default_protect()); normalised, no "..".
  std::vector<std::string> protect;
  // What the preset filled in because the file did not say it ("agent.command", "image",
  // "egress.allow", "secret.NAME", "agent.env.NAME", "resources.memory", ...), for `sbx plan`.
  std::vector<std::string> from_preset;
};

}  // namespace sbx::config
