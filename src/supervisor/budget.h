#pragma once
// Per-guest budgets: how much of the host one sandbox's guest may hold through its supervisor.
// The guest (root in it can write raw channel frames) is hostile; each resource it can make the
// supervisor allocate has a number here, and going over it refuses the new thing or drops output,
// never more than one log line per kind. SUPERVISOR.md explains the numbers.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace sbx::supervisor {

/// The limits of one sandbox.
struct Budgets {
  std::size_t log_streams = 64;     // guest-opened log streams open at once; the agent opens none today
  std::size_t routes = 1024;        // exec/shell/log streams routed at once (one per running `sbx exec`)
  std::size_t proxy_streams = 4096; // egress connections open at once: one supervisor fd each
  std::size_t port_connections = 256;  // [[port]] connections open at once: one supervisor fd each
  std::uint64_t guest_log_bytes = 16ull << 20;  // guest.log before it rotates
  int guest_log_keep = 3;                       // guest.log.1 .. .3 kept
  std::uint64_t console_bytes = 8ull << 20;     // console.log before it rotates
  int console_keep = 2;                         // console.log.1 .. .2 kept
};

/// A budget refusal is logged once per episode: again only after use fell below 3/4 of the limit.
struct RefusalLog {
  bool logged = false;
  bool first(std::size_t used, std::size_t limit) {
    if (used * 4 < limit * 3) logged = false;
    if (logged) return false;
    logged = true;
    return true;
  }
};

/// Fds the supervisor keeps for itself beyond proxy streams (sockets, clients, logs, QEMU's).
inline constexpr std::uint64_t kReservedFds = 256;

/// The proxy stream budget for a soft RLIMIT_NOFILE of `nofile`: 4096, or fewer so that the
/// streams plus kReservedFds still fit (at least 16).
std::size_t proxy_stream_budget(std::uint64_t nofile);

/// Raise this process's soft RLIMIT_NOFILE towards its hard limit (at most 65536) and return the
/// budgets that fit the result.
Budgets budgets_for_this_process();

/// An append-only log file capped at `max_bytes`: when a write would pass it, the file becomes
/// FILE.1 (FILE.1 becomes FILE.2 ... up to FILE.keep, the oldest is removed) and a new FILE
/// starts. So at most (keep + 1) * max_bytes lie on disk whatever is written.
class RotatingLog {
 public:
  RotatingLog(std::filesystem::path file, std::uint64_t max_bytes, int keep);
  ~RotatingLog();
  RotatingLog(const RotatingLog&) = delete;
  RotatingLog& operator=(const RotatingLog&) = delete;

  /// Append `data` (rotating first when it would not fit). False when the file cannot be
  /// written (the bytes are dropped; error() says why).
  bool append(std::string_view data);
  /// Bytes in the current file.
  std::uint64_t size() const { return size_; }
  /// Every byte appended since construction.
  std::uint64_t total() const { return total_; }
  /// Bytes dropped because the file could not be written.
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t rotations() const { return rotations_; }
  std::uint64_t max_bytes() const { return max_; }
  int keep() const { return keep_; }
  const std::string& error() const { return error_; }
  const std::filesystem::path& path() const { return file_; }

 private:
  bool open();
  void rotate();
  std::filesystem::path file_;
  std::uint64_t max_;
  int keep_;
  std::FILE* out_ = nullptr;
  std::uint64_t size_ = 0, total_ = 0, dropped_ = 0, rotations_ = 0;
  std::string error_;
};

}  // namespace sbx::supervisor
