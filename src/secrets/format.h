#pragma once
// The on-disk formats of the store (all integers little-endian). Internal to sbx_secrets.
//
// store.key (v1, 182 bytes):
//   "SBX-KEY\0" u16 version | u8 wrap (1 key file, 2 passphrase) | u8 kdf alg (0 none,
//   2 Argon2id13) | u64 opslimit | u64 memlimit | 16 salt | 32 public key | 24 nonce |
//   u16 wrapped length (48) | XChaCha20-Poly1305(private key; AD = every byte before it) |
//   32 BLAKE2b checksum of every byte before it
// wrap.key (v1, 76 bytes):   "SBX-WRAP" u16 version | u16 0 | 32 key | 32 checksum
// NAME.secret (v1):  "SBX-SECR" u16 version | i64 created | i64 updated (unix seconds) |
//   u8 name length | name | u32 box length | crypto_box_seal box | 32 checksum
// Sealed plaintext (inside every box): u8 1 | u8 name length | name | value.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "secrets/secret_buffer.h"

namespace sbx::secrets::detail {

inline constexpr std::size_t kChecksumSize = 32;
inline constexpr std::size_t kKeySize = 32;
inline constexpr std::size_t kSaltSize = 16;
inline constexpr std::size_t kNonceSize = 24;
inline constexpr std::size_t kWrappedSize = 48;  // key + Poly1305 tag
inline constexpr std::size_t kKeyFileSize = 182;
inline constexpr std::size_t kWrapFileSize = 76;
inline constexpr std::size_t kMaxStoreFileSize = (1u << 20) + 4096;

/// Parsed store.key.
struct KeyFile {
  std::uint8_t wrap = 1;  // 1 key file, 2 passphrase
  std::uint8_t kdf_alg = 0;
  std::uint64_t opslimit = 0;
  std::uint64_t memlimit = 0;
  std::string salt;        // 16 bytes
  std::string public_key;  // 32 bytes
  std::string nonce;       // 24 bytes
  std::string wrapped;     // 48 bytes
};

/// Parsed NAME.secret.
struct SecretFile {
  std::int64_t created = 0;
  std::int64_t updated = 0;
  std::string name;
  std::string box;
};

/// BLAKE2b-256 of `bytes`.
std::string checksum(std::string_view bytes);

/// Serialise store.key without its wrapped key: the AEAD associated data.
std::string key_file_header(const KeyFile& k);
std::string encode_key_file(const KeyFile& k);
Result<KeyFile> decode_key_file(std::string_view bytes, const std::filesystem::path& file);

std::string encode_wrap_file(std::string_view key);
/// The 32-byte key in wrap.key, into locked memory.
Result<SecretBuffer> decode_wrap_file(std::string_view bytes, const std::filesystem::path& file);

std::string encode_secret_file(const SecretFile& s);
Result<SecretFile> decode_secret_file(std::string_view bytes, const std::filesystem::path& file);

/// The plaintext sealed into a box: binds `name` to `value`.
Result<SecretBuffer> encode_plaintext(std::string_view name, const SecretBuffer& value);
/// Split a box's plaintext; checks its version and that it names `expected_name`.
Result<SecretBuffer> decode_plaintext(const SecretBuffer& plain, std::string_view expected_name, std::string_view where);

// Little-endian helpers shared with blob.cpp.
void put_u8(std::string& out, std::uint8_t v);
void put_u16(std::string& out, std::uint16_t v);
void put_u32(std::string& out, std::uint32_t v);
void put_u64(std::string& out, std::uint64_t v);

/// A bounds-checked cursor over bytes; any read past the end sets `short_read`.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  std::uint8_t u8();
  std::uint16_t u16();
  std::uint32_t u32();
  std::uint64_t u64();
  std::string take(std::size_t n);
  std::size_t remaining() const { return bytes_.size() - pos_; }
  std::size_t pos() const { return pos_; }
  bool short_read() const { return short_; }

 private:
  std::uint64_t little(std::size_t n);
  std::string_view bytes_;
  std::size_t pos_ = 0;
  bool short_ = false;
};

}  // namespace sbx::secrets::detail
