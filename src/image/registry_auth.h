#pragma once
// Registry authentication pieces: WWW-Authenticate challenges and Basic credentials encoding.
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "image/registry.h"

namespace sbx::image {

/// One parsed WWW-Authenticate challenge: scheme ("bearer"/"basic", lower case) and its parameters.
struct AuthChallenge {
  std::string scheme;
  std::map<std::string, std::string> params;  // keys lower case: realm, service, scope, error
};

/// Parse a WWW-Authenticate header value (quoted strings may hold commas); nullopt if malformed.
std::optional<AuthChallenge> parse_auth_challenge(std::string_view header);

/// "Basic <base64(user:password)>".
std::string basic_authorization(const RegistryCredentials& credentials);

/// Standard base64 encode / decode (decode: nullopt on bad input).
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace sbx::image
