#pragma once
// Images (issue 6): local rootfs directories, OCI image layouts (directory or tar), `docker save`
// archives and registry pulls, each unpacked once into a read-only ext4 root disk cached by
// digest under paths::cache_dir()/images/ and shared by every sandbox of that image.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "config/sandboxfile.h"
#include "image/progress.h"

namespace sbx::image {

/// The parts of an OCI/Docker image config sbx honours (the Sandboxfile wins where it says).
struct ImageConfig {
  std::vector<std::string> env;         // "KEY=VALUE", in the image's order
  std::string working_dir;              // "" when the image sets none
  std::string user;                     // "" when the image sets none: "name", "uid", "uid:gid", "name:group"
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
};

/// A root disk ready to boot and the config that came with it.
struct PreparedImage {
  std::string id;                       // "sha256:<hex>": manifest (OCI), config (docker save) or tree digest
  std::filesystem::path root_disk;      // <cache>/images/sha256-<hex>/rootfs.ext4, read-only
  ImageConfig config;
  bool reused = false;                  // true when the cache already had it
};

/// How to import.
struct ImportOptions {
  std::function<void(std::string_view)> progress;  // human lines ("building root disk ...")
  ProgressSink meter;                              // byte progress of hashing, unpacking, pulling
  std::string os = "linux";
  std::string architecture = "amd64";
  std::filesystem::path cache_dir;                 // default paths::cache_dir()
  std::uint64_t max_unpacked_bytes = 64ull << 30;  // refuse images that unpack larger (zip bombs)
  bool owners_by_debugfs = false;                  // tests: force the non-root owner path
};

/// True for the image User forms sbx runs: "name", "uid", "name:group", "uid:gid" (names
/// [a-z_][a-z0-9_.-]{0,31}, ids up to 10 digits): guest/protocol/user.h, the guest's own rule.
bool valid_user_spec(std::string_view user);

/// Prepare the root disk of `image` (kinds rootfs_dir, oci_archive, registry; not builtin).
Result<PreparedImage> prepare_image(const config::Image& image, const ImportOptions& options = {});

/// Import an OCI image layout directory (oci-layout, index.json, blobs/sha256/...).
Result<PreparedImage> import_layout(const std::filesystem::path& layout_dir, const std::string& reference,
                                    const ImportOptions& options = {});

/// Import an OCI image layout or `docker save` archive (.tar, .tar.gz, .tgz, .tar.zst);
/// `pin` ("sha256:<hex>" of the file) is checked when given.
Result<PreparedImage> import_archive(const std::filesystem::path& archive, const std::string& pin,
                                     const ImportOptions& options = {});

/// Build (or reuse) the image `id` from tar layers sbx made itself (the dev image's base, an
/// agent layer, a saved sandbox's layers), applied in order with the same defences as an OCI
/// layer; `format` and `reference` are what `sbx image ls` shows, `config` goes with the image.
Result<PreparedImage> import_layer_tars(const std::vector<std::filesystem::path>& layers, const std::string& id,
                                        const std::string& format, const std::string& reference,
                                        const ImportOptions& options = {}, const ImageConfig& config = {});

/// Use a local root file system directory as an image (copied, then made into a disk).
Result<PreparedImage> import_rootfs_dir(const std::filesystem::path& dir, const ImportOptions& options = {});

}  // namespace sbx::image
