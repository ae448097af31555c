#pragma once
// [[port]] forwarding, host side: the supervisor listens on each forwarded host port and turns
// every accepted TCP connection into a host-opened `port` stream (OPEN {"kind":"port","port":N});
// the guest connects to 127.0.0.1:N and, on OPEN_OK, bytes flow through a StreamBridge with the
// usual windows. Only the host opens port streams: the guest cannot make the supervisor connect
// anywhere (guest_frames.cpp refuses a guest OPEN of this kind). Connections held at once are a
// budget (SUPERVISOR.md); over it a new connection is accepted and closed at once.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "guest/protocol/frame.h"
#include "supervisor/bridge.h"
#include "supervisor/budget.h"
#include "supervisor/launch.h"
#include "supervisor/poll_set.h"
#include "vmm/unix_socket.h"

namespace sbx::supervisor {

/// A listening TCP socket on address:port (non-blocking, close-on-exec, SO_REUSEADDR so a port
/// in TIME_WAIT after `sbx down` binds again, while one another program listens on still fails).
/// The error names the endpoint, says when it is in use, and how to fix it.
Result<vmm::Fd> listen_tcp(const std::string& address, std::uint16_t port);

/// The forwarded ports of one sandbox and their connections.
class PortForwarder {
 public:
  using Emit = StreamBridge::Emit;

  PortForwarder(std::vector<PortLaunch> ports, std::shared_ptr<spdlog::logger> log)
      : ports_(std::move(ports)), log_(std::move(log)) {}

  /// Listen on every port; the first that cannot be bound is the error (nothing stays bound).
  Result<void> listen();
  /// Stop listening and drop every connection (the sandbox stops).
  void close();
  void set_budget(std::size_t connections) { budget_ = connections; }

  /// Register this turn's descriptors: listeners while `accepting` (the guest is ready),
  /// bridges within the guest's window and only while the channel has room.
  void add_to_poll(PollSet& set, bool accepting, bool channel_room);
  /// Act on the last wait(): accept connections (each gets a host stream id from `next_id` and
  /// an OPEN to the guest), move bridged bytes.
  void on_poll(const PollSet& set, const std::function<std::uint32_t()>& next_id, const Emit& emit);
  /// A guest frame on a stream id: true when it was one of ours (and is handled).
  bool on_guest_frame(const guest::protocol::Frame& f, const Emit& emit);
  /// The guest started a new session: every port stream is gone on its side.
  void reset();

  /// Connections held now (waiting for the guest's OPEN_OK, or bridged).
  std::size_t connections() const { return pending_.size() + bridges_.size(); }
  std::size_t budget() const { return budget_; }
  std::uint64_t refused() const { return refused_; }
  const std::vector<PortLaunch>& ports() const { return ports_; }

 private:
  struct Listener {
    PortLaunch port;
    vmm::Fd fd;
  };
  struct Pending {
    vmm::Fd fd;
    std::uint16_t guest_port = 0;
  };
  void accept_from(Listener& l, const std::function<std::uint32_t()>& next_id, const Emit& emit);

  std::vector<PortLaunch> ports_;
  std::shared_ptr<spdlog::logger> log_;
  std::vector<Listener> listeners_;
  std::map<std::uint32_t, Pending> pending_;       // OPEN sent, no answer yet
  std::map<std::uint32_t, StreamBridge> bridges_;  // OPEN_OK: bytes flow
  std::size_t budget_ = 256;
  std::uint64_t refused_ = 0;
  RefusalLog refusal_;
  // This turn's slots (add_to_poll -> on_poll).
  std::vector<std::pair<std::size_t, PollSet::Slot>> listener_slots_;
  std::vector<std::pair<std::uint32_t, PollSet::Slot>> bridge_slots_;
};

}  // namespace sbx::supervisor
