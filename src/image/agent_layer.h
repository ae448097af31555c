#pragma once
// The agent layer: what `npm install -g --prefix DIR PACKAGE@VERSION` left in DIR inside a build
// VM (written through a read-write virtio-fs mount), packed on the host into a layer tarball
// rooted at usr/local/. The tree came from a VM that ran npm install scripts, so it is hostile:
// it is walked without following symlinks, only directories, regular files and symlinks are
// kept, every entry is owned by root, set-id bits are dropped, and size and count are bounded.
// Several names of one file stay one file: the later ones are hard links in the tar.
#include <cstdint>
#include <filesystem>
#include <string>

#include "common/error.h"

namespace sbx::image {

/// Bounds of one agent layer.
struct AgentLayerLimits {
  std::uint64_t max_bytes = 4ull << 30;
  std::uint64_t max_entries = 500000;
};

/// What pack_agent_layer wrote.
struct AgentLayerStats {
  std::uint64_t entries = 0, bytes = 0, skipped = 0;
  std::uint64_t hardlinks = 0;  // entries written as a hard link to an earlier one (their bytes are not counted twice)
};

/// Pack the npm prefix `prefix` into the tar `out` with every path under usr/local/.
Result<AgentLayerStats> pack_agent_layer(const std::filesystem::path& prefix, const std::filesystem::path& out,
                                         const AgentLayerLimits& limits = {});

/// The version npm installed: "version" of <prefix>/lib/node_modules/<package>/package.json.
Result<std::string> installed_version(const std::filesystem::path& prefix, const std::string& package);

}  // namespace sbx::image
