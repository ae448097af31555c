#pragma once
// sbx's dev image (`[image] ref = "dev"`, the default of agent presets): Debian 12 with the tools
// agents use, built on first use by mmdebstrap from the host's own apt sources (so a company
// mirror works and no mirror name is written into sbx), kept as a base layer tarball cached by a
// digest of the recipe, and turned into a read-only ext4 root disk like every other image.
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "image/image.h"

namespace sbx::image {

/// What the dev image is made of; its digest names the cached layer and image.
struct DevRecipe {
  std::string suite = "bookworm";                 // Debian 12
  std::vector<std::string> packages;              // installed on top of mmdebstrap's apt variant
  std::vector<std::filesystem::path> sources;     // the host's apt source files, given to mmdebstrap
  std::string sources_text;                       // their contents, in order
  /// "sha256:<hex>" over the suite, packages, sources and sbx's build steps.
  std::string digest() const;
};

/// The recipe with this host's apt sources: /etc/apt/sources.list and sources.list.d/*.list and
/// *.sources (the files apt itself reads; `SBX_APT_SOURCES` may name one file instead).
Result<DevRecipe> dev_recipe();

/// The dev image's base layer: a tarball mmdebstrap writes, made once per recipe digest under
/// <cache>/images/layers/. Progress lines go to options.progress.
Result<std::filesystem::path> dev_base_layer(const DevRecipe& recipe, const ImportOptions& options = {});

/// The dev image's root disk (built from the base layer on first use, then cached).
Result<PreparedImage> prepare_dev_image(const ImportOptions& options = {});

/// <cache>/images/layers: layer tarballs sbx made itself (the dev base, agent layers).
std::filesystem::path layers_dir(const std::filesystem::path& cache);

}  // namespace sbx::image
