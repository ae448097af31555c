#pragma once
// Signed policies: Ed25519 (libsodium) detached signatures over a policy file's exact bytes.
//   key.pub   "sbx-policy-public-key-v1 <key id> <base64 of 32 bytes>"
//   key.key   "sbx-policy-secret-key-v1 <key id> <base64 of 64 bytes>"   (mode 0600)
//   FILE.sig  "sbx-policy-signature-v1 <key id> <base64 of 64 bytes>"
// The key id is the first 16 hex digits of SHA-256 of the public key. What is signed is
// "sbx-policy-signature-v1\n" followed by the file, so no other sbx signature can be replayed.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace sbx::policy {

/// A new key pair as the texts of its two files.
struct KeyFiles {
  std::string id;
  std::string public_text;
  std::string secret_text;
};
Result<KeyFiles> generate_key();

/// A trusted public key.
struct PublicKey {
  std::string id;
  std::string bytes;                // 32 bytes
  std::filesystem::path file;       // where it was read from
};

/// Parse a public key file's text; `display` names it in errors.
Result<PublicKey> parse_public_key(std::string_view text, const std::string& display);

/// Every `*.pub` in `dir` (none when it does not exist); a malformed one is an error.
Result<std::vector<PublicKey>> load_trusted_keys(const std::filesystem::path& dir);

/// The signature file text for `text`, signed with the secret key file text `secret_key`.
Result<std::string> sign_policy(std::string_view text, std::string_view secret_key);

/// The id of the key in `keys` that made `signature` over `text`; else an error saying why not
/// (malformed, made by a key not in `keys`, or not matching the bytes).
Result<std::string> verify_policy(std::string_view text, std::string_view signature, const std::vector<PublicKey>& keys);

/// Where the detached signature of `policy` lives: the same path with ".sig" appended.
std::filesystem::path signature_path(const std::filesystem::path& policy);

}  // namespace sbx::policy
