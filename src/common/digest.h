#pragma once
// SHA-256 digests (libsodium) used for content-addressed caches and the desired-state digest.
#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.h"

namespace sbx::digest {

/// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  /// Lower-case hex of the digest; the hasher must not be used afterwards.
  std::string hex();

 private:
  alignas(64) unsigned char state_[512];  // crypto_hash_sha256_state, kept opaque here
};

/// "sha256:<hex>" of a byte string.
std::string sha256(std::string_view bytes);
/// Lower-case hex SHA-256 of a byte string.
std::string sha256_hex(std::string_view bytes);
/// Lower-case hex SHA-256 of a file's content.
Result<std::string> sha256_file(const std::filesystem::path& file);

}  // namespace sbx::digest
