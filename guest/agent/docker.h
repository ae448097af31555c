#pragma once
// [docker] enabled: the kernel's module tree for modprobe, cgroup v2, and dockerd started by the
// agent after READY with its state on the sandbox disk and its log relayed to the console.
#include <cstdint>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace sbx::guest::agent {

/// The address of docker's default bridge (daemon.json "bip"): the guest's proxy listener for
/// containers binds it, and containers get http://kDockerBridgeAddress:3128 as their proxy.
inline constexpr const char* kDockerBridgeAddress = "172.17.0.1";
/// The longest wait for dockerd's API before it is reported failed (software emulation is slow).
inline constexpr std::int64_t kDockerReadyTimeoutMs = 300000;

/// Boot: mount the modules disk (`sbx.modules=SERIAL` on the command line) read-only at
/// /lib/modules/<release> of the root, so modprobe finds every module of the running kernel.
void mount_modules_disk();

/// The daemon the agent runs, and where its start stands.
struct DockerDaemon {
  pid_t pid = -1;
  int log_fd = -1;              // read end of dockerd's stdout and stderr
  std::string partial;          // an unterminated log line
  std::int64_t started_ms = 0;  // uptime when it was started
  std::int64_t probed_ms = 0;   // uptime of the last GET /_ping while it starts
  bool started = false;         // once per boot, whatever sessions come and go
  bool ready = false;
  bool failed = false;
};

/// cgroup2 on /sys/fs/cgroup, /var/lib/docker bound from the sandbox disk, daemon.json, the
/// clients' proxy config; then dockerd with `env` (the proxy variables). Reports on the console
/// as "docker state: ..." lines, which the host's supervisor reads for `sbx status`.
void start_dockerd(DockerDaemon& d, const std::map<std::string, std::string>& env, const std::vector<std::string>& insecure_registries);
/// Relay what dockerd wrote to the console ("dockerd: ..." lines).
void read_dockerd_log(DockerDaemon& d);
/// The poll loop's timer: GET /_ping every 250 ms until the API answers (reported running), or a
/// start that takes too long is reported failed once.
void check_dockerd(DockerDaemon& d);
/// A reaped child: true when it was dockerd (reported failed).
bool on_dockerd_exit(DockerDaemon& d, pid_t pid, int status);

}  // namespace sbx::guest::agent
