#pragma once
// Secret values from files in a directory, one file per store name: how a Kubernetes Secret
// mounted into the proxy sidecar reaches `sbx proxy --secrets-dir`.
#include <filesystem>

#include "proxy/secret_source.h"

namespace sbx::proxy {

/// Reads DIR/NAME on each lookup (a mounted Secret's update is picked up), at most 16 KiB, one
/// trailing newline dropped as `sbx secret set` does; NAME must be a plain file name. Symlinks
/// are followed: Kubernetes lays a Secret volume out as links into a ..data directory.
SecretSource dir_secret_source(const std::filesystem::path& dir);

}  // namespace sbx::proxy
