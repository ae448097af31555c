#pragma once
// The Sandboxfile the sidecar's `sbx proxy` loads from the egress ConfigMap: the resolved
// [egress] rules and the header [[secret]] bindings of the user's file, written out in
// normalised form (table rules with explicit ports), so the proxy enforces exactly what
// `sbx plan` shows. Nothing else of the file reaches the sidecar.
#include <string>

#include "config/sandboxfile.h"

namespace sbx::render {

/// The proxy's Sandboxfile text (TOML). Header secrets only: env secrets are refused earlier.
std::string proxy_sandboxfile(const config::Sandboxfile& file);

/// A TOML basic string: `"` and `\` escaped, control characters as \uXXXX.
std::string toml_quote(std::string_view utf8);

}  // namespace sbx::render
