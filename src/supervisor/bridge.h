#pragma once
// One guest `proxy` stream bridged to a local stream socket (the supervisor's end of a
// socketpair whose other end the egress proxy serves). Guest DATA is written to the socket and
// credited back with WINDOW only once written; socket bytes go to the guest only within the
// guest's window. So at most one window (kInitialWindow) per direction is ever buffered here.
#include <cstdint>
#include <functional>
#include <string>

#include "guest/protocol/frame.h"
#include "vmm/unix_socket.h"

namespace sbx::supervisor {

class StreamBridge {
 public:
  /// Where frames for the guest go.
  using Emit = std::function<void(const guest::protocol::Frame&)>;

  /// Bridge guest stream `stream` and the connected, non-blocking stream socket `sock`.
  StreamBridge(std::uint32_t stream, Fd sock);

  /// A frame the guest sent on this stream (DATA, WINDOW, EOF or CLOSE; others are ignored).
  void on_guest_frame(const guest::protocol::Frame& f, const Emit& emit);
  /// The poll events wanted on fd() now; 0 means "do not poll it". `channel_has_room` is false
  /// while the channel to the guest is backed up, so nothing more is read from the socket.
  short events(bool channel_has_room) const;
  /// Handle the poll result for fd().
  void on_events(short revents, const Emit& emit);
  /// Close both ways now (egress proxy gone, supervisor stopping): CLOSE to the guest once.
  void abort(const Emit& emit);
  /// True once both sides have sent CLOSE: forget the stream.
  bool finished() const { return sent_close_ && got_close_; }
  int fd() const { return sock_.get(); }
  /// Bytes waiting to be written to the socket (bounded by the window).
  size_t queued() const { return to_sock_.size(); }

 private:
  void read_socket(const Emit& emit);
  void write_socket(const Emit& emit);
  void maybe_close(const Emit& emit);
  void send_close(const Emit& emit);

  std::uint32_t stream_;
  Fd sock_;
  std::uint32_t send_window_;   // what the guest lets us send
  std::uint32_t recv_credit_;   // what the guest may still send us
  std::string to_sock_;
  bool guest_eof_ = false, shut_wr_ = false, sock_eof_ = false;
  bool sent_close_ = false, got_close_ = false;
};

}  // namespace sbx::supervisor
