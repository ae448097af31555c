#pragma once
// The canonical form of a resolved Sandboxfile: a JSON document with every default filled in
// and keys sorted, and its digest. Key order, comments and whitespace of the source do not
// change either; any change of meaning does.
#include <string>

#include <nlohmann/json.hpp>

#include "config/sandboxfile.h"

namespace sbx::config {

/// The resolved desired state as JSON (sorted keys; no source locations).
nlohmann::json to_json(const Sandboxfile& file);

/// "sha256:<hex>" of the compact serialisation of to_json(file).
std::string digest(const Sandboxfile& file);

}  // namespace sbx::config
