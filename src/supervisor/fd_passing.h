#pragma once
// Handing file descriptors between processes over a Unix SOCK_SEQPACKET socket (SCM_RIGHTS):
// the supervisor passes one end of a socketpair per guest proxy stream to its egress proxy child.
#include <string>
#include <string_view>

#include "vmm/unix_socket.h"

namespace sbx::supervisor {

/// Largest message sent with or without a descriptor.
inline constexpr size_t kMaxControlMessage = 4096;

/// Outcome of one non-blocking send or receive.
enum class IoStatus { ok, again, closed, error };

/// Send `message` (at most kMaxControlMessage bytes) with `fd` attached (-1: none) as one packet.
/// The caller keeps its copy of `fd`. `again` when the socket buffer is full (nothing was sent).
IoStatus send_with_fd(int sock, std::string_view message, int fd);

/// One received packet and the descriptor it carried (empty Fd when none).
struct Packet {
  std::string message;
  Fd fd;
  bool fd_lost = false;  // a descriptor was sent but this process had no room for it (MSG_CTRUNC)
};

/// Receive one packet. `again` when none is waiting (non-blocking socket), `closed` when the
/// peer is gone (only then). Extra descriptors and truncated packets are dropped (closed), never
/// leaked; a packet whose descriptor did not fit (full fd table) is `ok` with `fd_lost` set.
IoStatus receive_with_fd(int sock, Packet& out);

/// A SOCK_SEQPACKET socketpair (close-on-exec): [0] for this process, [1] for the child.
Result<std::pair<Fd, Fd>> control_pair();

}  // namespace sbx::supervisor
