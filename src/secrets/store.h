#pragma once
// The sealed secret store: a directory (default paths::data_dir()/"secrets", mode 0700) holding
//   store.key        the store's X25519 public key + its private key, wrapped (AEAD) either by a
//                    key derived from a passphrase (Argon2id, parameters recorded in the file) or
//                    by the random key in wrap.key;
//   wrap.key         the wrapping key (key-file mode only), mode 0600;
//   NAME.secret      one per secret: metadata + crypto_box_seal(name-bound value) to the public key;
//   .lock            flock()ed exclusively by every writer.
// Adding a secret needs only the public key; reading one needs the private key (unlock).
// Every file has a magic header, a version and a BLAKE2b checksum, so truncation and flipped bits
// are reported as such before any key is used. Writes are atomic (temp file, fsync, rename, fsync
// of the directory). Modes (0700 directory, 0600 files) and the owner are checked on every open;
// a violation is a `permission` Error whose hint is the chmod/chown command that fixes it.
// See src/secrets/THREAT_MODEL.md for what each mode protects against.
//
// Typical use in the egress proxy:
//   SBX_TRY_VOID(sbx::secrets::harden_process());
//   auto store = SBX_TRY(sbx::secrets::Store::open({}));
//   SBX_TRY_VOID(store.unlock());                 // may ask for the passphrase (see OpenOptions)
//   sbx::secrets::SecretBuffer token = SBX_TRY(store.get("GITHUB_TOKEN"));
//   use(token.reveal());                          // zeroed and freed when `token` goes away
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "secrets/secret_buffer.h"

namespace sbx::secrets {

/// How the store's private key is wrapped at rest.
enum class WrapMode { key_file, passphrase };

/// Argon2id cost parameters (crypto_pwhash), recorded in store.key.
struct KdfLimits {
  std::uint64_t opslimit = 0;
  std::uint64_t memlimit = 0;  // bytes
  /// libsodium's named presets: "interactive" (64 MiB), "moderate" (256 MiB, the default),
  /// "sensitive" (1 GiB), and "min" (8 KiB, for tests only).
  static Result<KdfLimits> preset(std::string_view name);
};

/// Supplies a passphrase when one is needed; `prompt` says what for ("Passphrase for ...").
/// The result must come from a no-echo prompt, an inherited fd, or the caller's memory: never argv.
using PassphraseSource = std::function<Result<SecretBuffer>(std::string_view prompt)>;

/// Options for Store::open.
struct OpenOptions {
  /// The store directory; empty means paths::data_dir()/"secrets".
  std::filesystem::path dir;
  /// Create the directory and a fresh key pair (key-file mode) when there is no store yet.
  bool create = false;
  /// Where the passphrase comes from in passphrase mode; empty means default_passphrase_source()
  /// (the fd in $SBX_SECRET_PASSPHRASE_FD, else a no-echo prompt on /dev/tty).
  PassphraseSource passphrase;
};

/// What `list()` says about one secret: never its value.
struct SecretInfo {
  std::string name;
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point updated;
  std::uint64_t value_size = 0;  // bytes of the sealed value (not secret: it is visible in the file size)
  /// Empty when the file is sound; otherwise why it cannot be used (corrupt, bad mode, ...).
  std::string problem;
};

/// An open secret store. Movable, not copyable; safe to call get() from several threads.
class Store {
 public:
  /// Open (and with `create`, initialise) the store; checks modes, owner, format and checksum
  /// of store.key. Does not decrypt the private key.
  static Result<Store> open(const OpenOptions& options);
  /// True when a store exists in `dir` (empty: the default directory).
  static bool exists(const std::filesystem::path& dir = {});
  /// The default store directory, paths::data_dir()/"secrets".
  static std::filesystem::path default_dir();

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  /// The store directory.
  const std::filesystem::path& dir() const;
  /// How the private key is wrapped.
  WrapMode wrap_mode() const;
  /// The Argon2id parameters in passphrase mode (zero in key-file mode).
  KdfLimits kdf_limits() const;
  /// The X25519 public key, standard base64 (44 characters): what `sbx secret seal` needs.
  std::string public_key_base64() const;
  /// The raw 32-byte public key.
  std::string public_key() const;
  /// A short fingerprint of the public key ("SHA256:" + first 16 hex digits) to compare by eye.
  std::string fingerprint() const;

  /// Decrypt the private key into locked memory (asks the passphrase source in passphrase mode).
  /// Idempotent. A wrong passphrase is an `invalid` Error; nothing on disk changes.
  Result<void> unlock();
  /// True once unlock() has succeeded.
  bool unlocked() const;

  /// Decrypt one secret (unlocks first if needed). `not_found` when absent (with a "did you mean"),
  /// `invalid` when the file is corrupt, truncated, renamed, or sealed to another key.
  Result<SecretBuffer> get(std::string_view name) const;
  /// Seal `value` under `name` (create or replace; keeps the created time). Needs no private key.
  /// Refuses to replace a corrupt file (remove() it first), so nothing is overwritten silently.
  Result<void> set(std::string_view name, const SecretBuffer& value);
  /// Store an already sealed value (from `sbx secret seal`): checks that it opens with this
  /// store's key and that the name bound inside is `name`, then writes it like set().
  Result<void> import_sealed(std::string_view name, std::string_view sealed_box);
  /// Names, times and sizes of every secret, sorted by name; checks each file's integrity and
  /// reports a damaged one in its `problem` rather than failing the whole list.
  Result<std::vector<SecretInfo>> list() const;
  /// Metadata of one secret.
  Result<SecretInfo> info(std::string_view name) const;
  /// Delete a secret (even a corrupt one). `not_found` when absent.
  Result<void> remove(std::string_view name);

  /// Re-wrap the private key: with a passphrase (Argon2id with `limits`) or, with nullopt, with a
  /// fresh key file. Unlocks first. Atomic: a crash leaves either the old or the new wrapping.
  Result<void> rewrap(const std::optional<SecretBuffer>& new_passphrase, KdfLimits limits);

  /// Path of a secret's file (for messages and tests).
  std::filesystem::path secret_path(std::string_view name) const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The default passphrase source: reads a line from the fd number in $SBX_SECRET_PASSPHRASE_FD
/// when set, else prompts on /dev/tty with echo off, else fails with a hint.
PassphraseSource default_passphrase_source();

/// Seal `value` for the holder of `public_key` (raw 32 bytes), binding `name` inside the box.
Result<std::string> seal_for(std::string_view public_key, std::string_view name, const SecretBuffer& value);

/// Decode a base64 public key as printed by `sbx secret show-public-key`.
Result<std::string> decode_public_key(std::string_view base64);

}  // namespace sbx::secrets
