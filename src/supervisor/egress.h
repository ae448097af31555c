#pragma once
// The seam where the egress proxy plugs in. The guest opens a `proxy` stream for each TCP
// connection a program makes to its HTTP proxy listener; the supervisor asks open_egress() for a
// host-side byte stream to bridge it to. Until the egress proxy lands every stream is refused.
#include <string>

#include "common/error.h"
#include "guest/protocol/messages.h"
#include "vmm/unix_socket.h"

namespace sbx::supervisor {

/// Who asks: the sandbox name and the guest's description of the connection.
struct EgressRequest {
  std::string sandbox;
  guest::protocol::Destination destination;
  std::string client;  // "127.0.0.1:PORT" inside the guest
};

/// A connected stream socket whose other end speaks for the egress proxy (the supervisor copies
/// bytes between it and the guest stream), or the reason the connection is refused, which the
/// guest returns to the program as "502 Bad Gateway".
Result<vmm::Fd> open_egress(const EgressRequest& request);

}  // namespace sbx::supervisor
