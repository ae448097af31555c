#pragma once
// Test harness: boots the real kernel + initramfs + default root disk under QEMU (TCG), with
// the sbx.ctl port on a Unix socket, and speaks the channel protocol as the host would.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "guest/protocol/frame.h"
#include "guest/protocol/messages.h"

namespace sbx::guest::test {

/// What a finished exec produced.
struct ExecResult {
  bool opened = false;
  std::string open_fail;
  std::string out;
  std::string err;
  std::int32_t code = -1;
  std::uint32_t signal = 0;
};

/// Send `frame` (its stream id is filled in) once the output so far contains `when`.
struct Trigger {
  std::string when;
  protocol::Frame frame;
};

/// Build (cached) images and return {kernel image, initramfs, rootfs}; throws on failure.
struct Images {
  std::filesystem::path kernel;
  std::filesystem::path initramfs;
  std::filesystem::path rootfs;
};
Images build_images();

/// Host CPU frequency in kHz from /proc/cpuinfo (for tsc_early_khz=), 0 if unknown.
long host_cpu_khz();

/// One booted guest.
class GuestVm {
 public:
  /// Boot; with `share_dir` set, also export it over virtio-fs (virtiofsd) with tag "share".
  explicit GuestVm(const Images& images, std::string extra_append = {}, std::filesystem::path share_dir = {});
  ~GuestVm();
  GuestVm(const GuestVm&) = delete;
  GuestVm& operator=(const GuestVm&) = delete;

  /// The QEMU argv used.
  const std::vector<std::string>& argv() const { return argv_; }
  /// Connect to the port socket (retrying while QEMU starts); false on timeout.
  bool connect(std::chrono::milliseconds timeout);
  /// Drop the connection (the guest sees the host hang up).
  void disconnect();
  /// Next frame, or nullopt on timeout / EOF / protocol error (see last_error()).
  std::optional<protocol::Frame> recv(std::chrono::milliseconds timeout);
  /// Send a frame.
  void send(const protocol::Frame& f);
  /// Send raw bytes (malformed frames).
  void send_raw(const std::string& bytes);
  /// HELLO -> CONFIG -> READY; returns the HELLO.
  std::optional<protocol::Hello> handshake(const protocol::Config& config = {});
  /// Run an exec/shell stream to completion, answering proxy OPENs with OPEN_FAIL.
  ExecResult exec(const protocol::Open& req, const std::string& stdin_data = {}, bool close_stdin = true,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30),
                  std::optional<std::uint32_t> signal_after_output = std::nullopt,
                  std::vector<Trigger> triggers = {});
  /// Proxy OPEN payloads seen while running exec().
  const std::vector<protocol::Open>& proxy_opens() const { return proxy_opens_; }
  /// Press the ACPI power button through QMP (system_powerdown); false if QMP failed.
  bool qmp_powerdown();
  /// Wait for QEMU to exit; returns its exit status or nullopt on timeout (then kills it).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  /// The console log so far.
  std::string console() const;
  /// Last receive problem.
  const std::string& last_error() const { return last_error_; }
  /// Seconds from QEMU start to the moment connect() succeeded and HELLO arrived.
  double hello_seconds() const { return hello_s_; }

 private:
  std::filesystem::path dir_;
  std::vector<std::string> argv_;
  int pid_ = -1;
  int virtiofsd_pid_ = -1;
  int fd_ = -1;
  protocol::Decoder decoder_;
  std::string last_error_;
  std::vector<protocol::Open> proxy_opens_;
  std::chrono::steady_clock::time_point started_;
  double hello_s_ = 0;
  std::uint32_t next_id_ = 1;
};

}  // namespace sbx::guest::test
