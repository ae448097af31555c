#pragma once
// Typed JSON payloads of the channel protocol (see guest/PROTOCOL.md) with strict validation:
// unknown keys, wrong types and out-of-range values are refused with a reason.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "guest/protocol/frame.h"

namespace sbx::guest::protocol {

/// Boot timings reported in HELLO, in milliseconds.
struct BootTiming {
  std::int64_t uptime_ms = 0;   // kernel uptime when HELLO was sent
  std::int64_t init_ms = 0;     // kernel uptime when /init started
  std::int64_t modules_ms = 0;  // time spent loading modules
  std::int64_t rootfs_ms = 0;   // time spent mounting and switching to the root disk
};

/// HELLO: the guest's first message of every session.
struct Hello {
  int protocol = kProtocolVersion;
  std::string agent;
  std::string kernel;
  bool reconnect = false;
  BootTiming boot;
};

/// A virtio-fs share to mount in the guest.
struct MountSpec {
  std::string tag;
  std::string target;
  bool readonly = true;
  // Paths under target (relative, normalised) the agent bind-mounts from the sandbox disk.
  std::vector<std::string> local;
};

/// CONFIG: what the host wants set up before streams open.
struct Config {
  std::optional<std::string> hostname;
  std::map<std::string, std::string> env;
  std::vector<MountSpec> mounts;
  bool proxy = true;
  std::optional<std::string> ca_certificate;  // PEM the guest trusts besides the image's bundle
  std::optional<std::string> user;            // default exec user (the image's User), else "agent"
  std::optional<std::string> workdir;         // default exec cwd (the image's WorkingDir)
  bool docker = false;                        // [docker] enabled: cgroup2, then dockerd after READY
  std::vector<std::string> docker_insecure_registries;  // [docker] insecure_registries ("host:port")
};

/// READY: the guest applied CONFIG; errors lists what failed.
struct Ready {
  bool ok = true;
  std::vector<std::string> errors;
};

/// Kinds of stream an OPEN may request.
enum class OpenKind { exec, shell, proxy, log, port };

/// Where a proxy stream's bytes go and how the guest learned it.
struct Destination {
  std::optional<std::string> host;
  std::optional<std::uint16_t> port;
  std::string learned = "http-proxy";  // "http-proxy" | "redirect" | "dns"
};

/// OPEN payload.
struct Open {
  OpenKind kind = OpenKind::exec;
  // exec / shell
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::optional<std::string> cwd;
  std::string user;  // "" = the CONFIG default user, else "agent"
  bool tty = false;
  std::uint16_t rows = 24;
  std::uint16_t cols = 80;
  std::optional<std::string> term;
  // proxy
  Destination destination;
  std::string client;
  // log
  std::string name;
  // port: the guest connects to 127.0.0.1:guest_port (a forwarded host connection)
  std::uint16_t guest_port = 0;
};

/// OPEN_OK payload.
struct OpenOk {
  std::optional<std::int64_t> pid;
};

/// OPEN_FAIL payload.
struct OpenFail {
  std::string reason;
  std::optional<int> err;  // errno, when one applies
  bool retry = false;      // temporary (the host's proxy restarts): the guest answers 503, not 502
};

/// Limits on OPEN contents.
inline constexpr std::size_t kMaxArgs = 4096;
inline constexpr std::size_t kMaxEnv = 4096;
inline constexpr std::size_t kMaxString = 32768;
inline constexpr std::size_t kMaxMounts = 64;

/// Serialize to a JSON payload.
std::string to_json(const Hello& m);
std::string to_json(const Config& m);
std::string to_json(const Ready& m);
std::string to_json(const Open& m);
std::string to_json(const OpenOk& m);
std::string to_json(const OpenFail& m);
/// ERROR payload {"message": ...}.
std::string error_json(std::string_view message);

/// Parse and validate a JSON payload; a refusal is an ErrorCode::invalid Error saying why.
Result<Hello> parse_hello(std::string_view payload);
Result<Config> parse_config(std::string_view payload);
Result<Ready> parse_ready(std::string_view payload);
Result<Open> parse_open(std::string_view payload);
Result<OpenOk> parse_open_ok(std::string_view payload);
Result<OpenFail> parse_open_fail(std::string_view payload);
/// The message of an ERROR payload (best effort: the raw text if it is not the JSON shape).
std::string parse_error_message(std::string_view payload);

/// Ready-made frames.
Frame hello_frame(const Hello& m);
Frame config_frame(const Config& m);
Frame ready_frame(const Ready& m);
Frame open_frame(std::uint32_t stream, const Open& m);
Frame open_ok_frame(std::uint32_t stream, const OpenOk& m);
Frame open_fail_frame(std::uint32_t stream, const OpenFail& m);
Frame error_frame(std::string_view message);
/// SHUTDOWN from the host (reboot=false: power off).
Frame shutdown_frame(bool reboot = false);

/// OpenKind as its JSON string.
std::string_view kind_name(OpenKind k);

}  // namespace sbx::guest::protocol
