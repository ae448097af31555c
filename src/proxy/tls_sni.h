#pragma once
// Reads the server name (SNI) from the first bytes a client sends on a tunnel, without
// consuming them, so a blind tunnel can refuse domain fronting.
#include <string>
#include <string_view>

namespace sbx::proxy {

/// What the first bytes of a tunnel say.
enum class HelloStatus {
  need_more,  // a TLS ClientHello has started but is not complete yet
  not_tls,    // the client speaks something other than TLS
  no_sni,     // a complete ClientHello without a server_name
  sni,        // a complete ClientHello with a server_name (in `name`, lower case)
  malformed,  // a TLS record that is not a well-formed ClientHello
};

/// Parse a ClientHello at the start of `data` (up to 16 KiB of handshake across records).
HelloStatus peek_client_hello(std::string_view data, std::string& name);

}  // namespace sbx::proxy
