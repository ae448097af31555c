#pragma once
// The VMM layer: one interface that starts, watches and stops a machine described by a plain
// MachineSpec. It knows nothing about Sandboxfiles; backends (QemuVmm today; Firecracker, Cloud
// Hypervisor or a native monitor later) implement it without callers changing.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "common/error.h"

namespace sbx::vmm {

/// A block device given to the guest (virtio-blk), in declaration order (vda, vdb, ...).
struct Disk {
  std::filesystem::path path;
  bool read_only = true;
  std::string serial;  // the device's serial the guest reads in /sys/block/vdX/serial ("" for none)
};

/// virtiofsd's `cache=` policies: `auto` trusts names and attributes for 1 s and data until the
/// host file changes; `always` until the guest changes them.
enum class ShareCache { auto_, always };
/// "auto" or "always".
const char* share_cache_name(ShareCache cache);

/// A host directory shared with the guest over virtio-fs, mounted in the guest by `tag`.
/// With `source` set the backend runs virtiofsd for it on `socket` (read-only on the host side
/// too when `read_only`); with `source` empty a virtiofsd must already listen on `socket`.
struct Share {
  std::string tag;
  std::filesystem::path socket;
  std::filesystem::path source;
  bool read_only = true;
  // The guest user and group whose files are the host user's; other guest ids (root too) own nothing.
  unsigned guest_uid = 1000;
  unsigned guest_gid = 1000;
  // virtiofsd's cache policy: how long the guest may trust names, attributes and data it has seen.
  ShareCache cache = ShareCache::auto_;
  // Paths below `source` (relative, no "." or ".." parts) that stay read-only in the guest even
  // in a read-write share: see start_virtiofsd.
  std::vector<std::string> protect;
};

/// A virtio-serial port named `name` in the guest, a listening Unix socket at `socket` on the host.
struct Channel {
  std::string name;
  std::filesystem::path socket;
};

/// Everything a backend needs to boot one machine.
struct MachineSpec {
  std::string name;                        // for process titles and messages
  std::filesystem::path kernel;            // bzImage, or an uncompressed vmlinux (PVH boot)
  std::filesystem::path initramfs;         // may be empty
  std::string cmdline;                     // the caller's part; backends append what they need
  std::uint64_t memory_bytes = 0;          // required: the caller sizes the machine (sbx: config/defaults.h)
  unsigned cpus = 0;                       // 0: one CPU
  std::vector<Disk> disks;
  std::vector<Share> shares;
  std::vector<Channel> channels;
  std::filesystem::path console_log;       // the guest's serial console is appended here
  std::filesystem::path console_socket;    // or, when set, served on this Unix socket (the caller
                                           // reads it and caps what it keeps); console_log unused
  std::filesystem::path runtime_dir;       // where the backend keeps its control socket and log
};

/// How a machine ended.
struct Exit {
  bool signaled = false;  // the VMM process was killed by a signal
  int code = 0;           // exit status, or the signal number when `signaled`
  /// "exited with status 0", "killed by signal 9 (Killed)".
  std::string describe() const;
};

/// A machine monitor backend. One instance drives at most one machine.
class Vmm {
 public:
  virtual ~Vmm() = default;
  /// Start the machine; returns once the VMM process runs and its control socket answers.
  virtual Result<void> start(const MachineSpec& spec) = 0;
  /// Ask the guest to power off (ACPI power button); does not wait.
  virtual Result<void> request_poweroff() = 0;
  /// Wait up to `timeout` for the VMM process to end; error code `runtime` on timeout.
  virtual Result<Exit> wait(std::chrono::milliseconds timeout) = 0;
  /// Stop the VMM at once (quit over the control socket, then SIGKILL).
  virtual void kill() = 0;
  /// The backend's view of the machine ("running", "paused", "shutdown", ...).
  virtual Result<std::string> status() = 0;
  /// The VMM process id, or -1 before start / after it was reaped.
  virtual pid_t pid() const = 0;
  /// A pidfd of the VMM process for poll()-based event loops, or -1.
  virtual int process_fd() const = 0;
  /// Non-blocking: how the VMM process ended (reaping it), or nullopt while it still runs; an
  /// error only when there is no process (never started).
  virtual Result<std::optional<Exit>> try_reap() = 0;
  /// The accelerator the machine runs on ("kvm", "tcg"), for status and messages.
  virtual std::string accelerator() const = 0;
  /// The VMM's own output (its errors about arguments land here), for crash reports.
  virtual std::filesystem::path log_file() const = 0;
};

/// The backend for this host, with the accelerator chosen for it (vmm/accel.h); the one-line
/// warning about software emulation, if any, goes to `warning`.
std::unique_ptr<Vmm> make_vmm(std::string* warning);

/// The last `max_lines` lines of a text file, byte for byte less each line's '\r' ("" when it
/// cannot be read). Console and VMM logs are guest- or VMM-written: escape before showing them
/// (text::escape_lines_for_terminal).
std::string tail_file(const std::filesystem::path& file, size_t max_lines);

}  // namespace sbx::vmm
