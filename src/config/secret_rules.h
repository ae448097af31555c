#pragma once
// The rules a [[secret]] binding must follow, apart from the TOML walk (loader.cpp): its name,
// the exact and allowed hosts a header secret goes to, the header it sets and its template.
// Each check's error is the loader's diagnostic text (message and hint).
#include <string>
#include <string_view>

#include "common/error.h"

namespace sbx::config {

class HostMatcher;

/// Whether `name` is an HTTP header name (RFC 9110 token), at most 128 bytes.
bool is_header_name(std::string_view name);
/// Whether the proxy owns the header `name` (Host, Content-Length, ...; any case): injecting it
/// would break or smuggle requests.
bool is_proxy_owned_header(std::string_view name);

/// A valid store name for a secret (see is_secret_name).
Result<void> check_secret_name(std::string_view name);
/// The normalised host a header secret may go to: `text` names one host exactly, and [egress]
/// allows it (`allowed`) without denying it (`denied`).
Result<std::string> check_secret_host(std::string_view text, const HostMatcher& allowed, const HostMatcher& denied);
/// A header a secret may set: a header name the proxy does not own.
Result<void> check_secret_header(std::string_view header);
/// A value template: one line of at most 1024 bytes holding "{}" exactly once.
Result<void> check_value_template(std::string_view value_template);

}  // namespace sbx::config
