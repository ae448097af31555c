#pragma once
// What a supervisor is told to run: the machine, the guest's CONFIG and the desired-state digest.
// Written by `sbx up` as launch.json in the sandbox's state directory, read by the supervisor.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "common/error.h"
#include "guest/protocol/messages.h"
#include "proxy/host_pins.h"
#include "vmm/vmm.h"

namespace sbx::supervisor {

/// Where the `sbx up` that applied the rules found the organisation's policies (absolute paths):
/// the egress child looks there for the ceilings and deny lists it enforces, and watches them.
struct PolicySourcesLaunch {
  std::string system_config;                  // $SBX_SYSTEM_CONFIG_DIR (policies.d, trusted-keys.d)
  std::string user_policies;                  // the user's policies.d
  std::vector<std::string> path;              // SBX_POLICY_PATH entries
  bool operator==(const PolicySourcesLaunch&) const = default;
};

/// How the supervisor runs the sandbox's egress proxy child.
struct EgressLaunch {
  bool enabled = false;                       // false: refuse every guest proxy stream
  std::string sandboxfile;                    // the user's Sandboxfile (refusals cite file:line in it)
  std::string project_dir;                    // resolves its relative paths
  std::string snapshot;                       // the applied copy the proxy loads and reloads
  std::string digest;                         // of the [egress] section applied (hot reload)
  bool trust_ca = false;                      // inject = "header": the guest trusts the proxy's CA
  std::vector<proxy::HostPin> pins;           // SBX_EGRESS_RESOLVE of the sbx up that applied it
  std::optional<PolicySourcesLaunch> policies;  // absent: written by an sbx before run-time ceilings
};

/// A secret bound with inject = "env": its store name and the variable the guest sees. Only names
/// are written to launch.json; the supervisor reads the value from the store for each CONFIG.
struct EnvSecret {
  std::string secret;
  std::string env;
};

/// One [[port]]: the supervisor listens on address:host_port and forwards each connection to
/// 127.0.0.1:guest_port in the guest.
struct PortLaunch {
  std::string address;                        // an IP literal ("127.0.0.1" unless the file wrote one)
  std::uint16_t host_port = 0;
  std::uint16_t guest_port = 0;
  bool operator==(const PortLaunch&) const = default;
};

/// Everything one supervisor needs to start its sandbox.
struct Launch {
  std::string name;
  std::string digest;                         // desired-state digest (reconcile)
  vmm::MachineSpec machine;
  guest::protocol::Config guest_config;
  int boot_timeout_ms = 60000;                // HELLO + READY must come within this
  EgressLaunch egress;
  std::vector<EnvSecret> env_secrets;
  std::vector<PortLaunch> ports;
  std::string host_ca_pem;                    // [egress] trust_host_ca: PEM the guest trusts too
};

/// Serialize / parse launch.json.
std::string launch_to_json(const Launch& l);
Result<Launch> launch_from_json(std::string_view text, const std::string& display_name);

/// How the sandbox's own files (launch.json, state.json, the egress snapshot) are written with
/// sbx::write_file_atomic: readable by their owner only.
inline constexpr AtomicWriteOptions kPrivateFile{.mode = 0600};
/// Read a whole (small) file.
Result<std::string> read_small_file(const std::filesystem::path& file);

}  // namespace sbx::supervisor
