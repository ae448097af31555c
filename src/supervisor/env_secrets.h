#pragma once
// inject = "env": the supervisor reads each bound secret from the host store when it sends the
// guest its CONFIG (every HELLO), so the value reaches every exec's environment without being
// written anywhere on the host. The explicit, weaker mode: see src/secrets/THREAT_MODEL.md.
#include <string>
#include <vector>

#include "guest/protocol/frame.h"
#include "guest/protocol/messages.h"
#include "supervisor/launch.h"

namespace sbx::supervisor {

/// The longest value an env secret may have (the guest protocol's string limit, with room).
inline constexpr std::size_t kMaxEnvSecretValue = 16 * 1024;

/// The CONFIG frame for `config` with the values of `bindings` added to its env. A secret that
/// cannot be given (no store, missing, not UTF-8 text, NUL, too long, CONFIG too large) is left
/// out and named in `problems` (never with its value). Holds the store's key only for the call;
/// the copies it makes of the values are zeroed before it returns, except the frame's payload,
/// which the caller wipes with wipe() once it has encoded it.
guest::protocol::Frame config_with_env_secrets(guest::protocol::Config config, const std::vector<EnvSecret>& bindings,
                                               std::vector<std::string>& problems);

/// Overwrite `bytes` with zeros (for buffers that held a secret value).
void wipe(std::string& bytes);

}  // namespace sbx::supervisor
