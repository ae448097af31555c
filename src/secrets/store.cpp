#include "secrets/store.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include <sodium.h>

#include "common/digest.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/text.h"
#include "secrets/format.h"
#include "secrets/fsutil.h"
#include "secrets/input.h"
#include "secrets/names.h"
#include "secrets/sodium_init.h"

namespace sbx::secrets {
namespace fs = std::filesystem;
using detail::KeyFile;
using detail::SecretFile;

namespace {

constexpr std::string_view kKeyFileName = "store.key";
constexpr std::string_view kWrapFileName = "wrap.key";
constexpr std::string_view kSecretSuffix = ".secret";

std::shared_ptr<spdlog::logger> logger() { return log::get("secrets"); }

const unsigned char* u(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_seconds(std::int64_t s) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(s));
}

Result<SecretBuffer> derive_kek(const SecretBuffer& passphrase, const KeyFile& k) {
  SecretBuffer kek = SBX_TRY(SecretBuffer::allocate(detail::kKeySize));
  const auto t0 = std::chrono::steady_clock::now();
  if (crypto_pwhash(kek.data(), kek.size(), reinterpret_cast<const char*>(passphrase.data()), passphrase.size(),
                    u(k.salt), k.opslimit, static_cast<std::size_t>(k.memlimit), crypto_pwhash_ALG_ARGON2ID13) != 0)
    return fail(ErrorCode::runtime,
                "Argon2id needs " + std::to_string(k.memlimit >> 20) + " MiB of memory to derive the store key, and the system refused it",
                "free memory, or raise the memory limit of this process");
  logger()->debug("derived the key-wrapping key with Argon2id (opslimit {}, memlimit {} MiB) in {} ms", k.opslimit,
                  k.memlimit >> 20,
                  std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
  return kek;
}

// Encrypt `sk` under `kek` into k.wrapped, with a fresh nonce and the header as associated data.
void wrap_private_key(KeyFile& k, const SecretBuffer& sk, const SecretBuffer& kek) {
  k.nonce = random_bytes(detail::kNonceSize);
  const std::string ad = detail::key_file_header(k);
  k.wrapped.assign(detail::kWrappedSize, '\0');
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(k.wrapped.data()), &len, sk.data(), sk.size(),
                                             u(ad), ad.size(), nullptr, u(k.nonce), kek.data());
}

Error not_found_error(std::string_view name, const std::vector<std::string>& names, const fs::path& dir) {
  std::string hint;
  const std::string guess = text::closest(name, std::span<const std::string>(names));
  if (!guess.empty()) hint = "did you mean '" + guess + "'?";
  else hint = "'sbx secret ls' lists the secrets in " + dir.string() + "; 'sbx secret set " + std::string(name) + "' adds it";
  return make_error(ErrorCode::not_found, "no secret named '" + std::string(name) + "' in the store", std::move(hint));
}

}  // namespace

struct Store::Impl {
  fs::path dir;
  KeyFile key;
  PassphraseSource passphrase;
  std::mutex mu;
  SecretBuffer private_key;  // empty until unlocked

  fs::path key_path() const { return dir / std::string(kKeyFileName); }
  fs::path wrap_path() const { return dir / std::string(kWrapFileName); }
  fs::path secret_path(std::string_view name) const { return dir / (std::string(name) + std::string(kSecretSuffix)); }

  Result<SecretBuffer> read_wrap_key() const {
    auto bytes = detail::read_private_file(wrap_path(), detail::kMaxStoreFileSize);
    if (!bytes && bytes.error().code == ErrorCode::not_found)
      return fail(ErrorCode::not_found, "the store at " + dir.string() + " is in key-file mode but " + wrap_path().string() + " is missing",
                  "restore wrap.key from a backup; without it the secrets cannot be decrypted");
    if (!bytes) return std::unexpected(bytes.error());
    return detail::decode_wrap_file(*bytes, wrap_path());
  }

  Result<void> unlock_locked() {
    if (!private_key.empty()) return {};
    SecretBuffer kek;
    if (key.wrap == 1) {
      kek = SBX_TRY(read_wrap_key());
    } else {
      SecretBuffer pass = SBX_TRY(passphrase("Passphrase for the sbx secret store at " + dir.string() + ": "));
      kek = SBX_TRY(derive_kek(pass, key));
    }
    SecretBuffer sk = SBX_TRY(SecretBuffer::allocate(detail::kKeySize));
    const std::string ad = detail::key_file_header(key);
    unsigned long long len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(sk.data(), &len, nullptr, u(key.wrapped), key.wrapped.size(), u(ad),
                                                   ad.size(), u(key.nonce), kek.data()) != 0) {
      if (key.wrap == 2)
        return fail(ErrorCode::invalid, "wrong passphrase for the secret store at " + dir.string(),
                    "try again; nothing was changed. A forgotten passphrase cannot be recovered: the secrets would have to be set again in a new store");
      return fail(ErrorCode::invalid, wrap_path().string() + " does not unlock " + key_path().string() + " (they belong to different stores)",
                  "restore the wrap.key that was created with this store.key from a backup");
    }
    std::string derived(detail::kKeySize, '\0');
    crypto_scalarmult_base(reinterpret_cast<unsigned char*>(derived.data()), sk.data());
    if (derived != key.public_key)
      return fail(ErrorCode::invalid, key_path().string() + ": the private key does not match the recorded public key",
                  "the file was tampered with; restore it from a backup");
    private_key = std::move(sk);
    logger()->debug("unlocked the secret store at {}", dir.string());
    return {};
  }

  Result<std::vector<std::string>> names() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string f = it->path().filename().string();
      if (detail::is_temp_name(f) || !f.ends_with(kSecretSuffix)) continue;
      out.push_back(f.substr(0, f.size() - kSecretSuffix.size()));
    }
    if (ec) return fail(ErrorCode::io, "cannot list " + dir.string() + ": " + ec.message());
    std::sort(out.begin(), out.end());
    return out;
  }

  Result<SecretFile> read_secret(std::string_view name) const {
    const fs::path p = secret_path(name);
    auto bytes = detail::read_private_file(p, detail::kMaxStoreFileSize);
    if (!bytes && bytes.error().code == ErrorCode::not_found) {
      auto all = names();
      return std::unexpected(not_found_error(name, all ? *all : std::vector<std::string>{}, dir));
    }
    if (!bytes) return std::unexpected(bytes.error());
    SecretFile s = SBX_TRY(detail::decode_secret_file(*bytes, p));
    if (s.name != name)
      return fail(ErrorCode::invalid, p.string() + " holds secret '" + s.name + "', not '" + std::string(name) + "' (the file was renamed)",
                  "rename it back to " + s.name + ".secret, or remove it");
    return s;
  }

  // Open `box` with the private key and check that it is bound to `name`.
  Result<SecretBuffer> open_box(std::string_view name, const std::string& box, std::string_view where) {
    SBX_TRY_VOID(unlock_locked());
    if (box.size() < crypto_box_SEALBYTES)
      return fail(ErrorCode::invalid, std::string(where) + ": the sealed box is too short");
    SecretBuffer plain = SBX_TRY(SecretBuffer::allocate(box.size() - crypto_box_SEALBYTES));
    if (crypto_box_seal_open(plain.data(), u(box), box.size(), u(key.public_key), private_key.data()) != 0)
      return fail(ErrorCode::invalid,
                  std::string(where) + ": the sealed value does not open with this store's key (sealed to another store, or altered)",
                  "ask for it to be sealed again to the key that 'sbx secret show-public-key' prints");
    return detail::decode_plaintext(plain, name, where);
  }

  // Write NAME.secret with `box`, keeping the created time of a sound existing file. Takes the lock.
  Result<void> write_secret(std::string_view name, std::string box) {
    auto lock = SBX_TRY(detail::DirLock::acquire(dir));
    SBX_TRY_VOID(detail::check_private_dir(dir));
    detail::remove_stale_temps(dir);
    SecretFile s;
    s.name = std::string(name);
    s.box = std::move(box);
    s.updated = now_seconds();
    s.created = s.updated;
    std::error_code ec;
    const bool existed = fs::exists(fs::symlink_status(secret_path(name), ec));
    if (existed) {
      auto old = read_secret(name);
      if (!old)
        return fail(old.error().code, "will not replace secret '" + std::string(name) + "': " + old.error().message,
                    old.error().code == ErrorCode::permission
                        ? old.error().hint
                        : "inspect the file, then remove it with 'sbx secret rm " + std::string(name) + "' and set it again");
      s.created = old->created;
    }
    SBX_TRY_VOID(detail::write_atomic(dir, std::string(name) + std::string(kSecretSuffix), detail::encode_secret_file(s)));
    logger()->info("{} secret '{}' in {}", existed ? "updated" : "created", name, dir.string());
    return {};
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

fs::path Store::default_dir() { return paths::data_dir() / "secrets"; }

bool Store::exists(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(fs::symlink_status((dir.empty() ? default_dir() : dir) / std::string(kKeyFileName), ec));
}

Result<Store> Store::open(const OpenOptions& options) {
  SBX_TRY_VOID(detail::ensure_sodium());
  auto impl = std::make_unique<Impl>();
  impl->dir = options.dir.empty() ? default_dir() : options.dir;
  impl->passphrase = options.passphrase ? options.passphrase : default_passphrase_source();
  if (options.create) {
    SBX_TRY_VOID(detail::make_private_dir(impl->dir));
    if (!exists(impl->dir)) {
      auto lock = SBX_TRY(detail::DirLock::acquire(impl->dir));
      if (!exists(impl->dir)) {  // another process may have created it while we waited
        // A new key pair would silently orphan secrets sealed to the lost one.
        const auto orphans = SBX_TRY(impl->names());
        if (!orphans.empty())
          return fail(ErrorCode::conflict,
                      impl->key_path().string() + " is missing but " + std::to_string(orphans.size()) +
                          " secret(s) sealed to it remain (e.g. '" + orphans.front() + "')",
                      "restore store.key (and wrap.key) from a backup; or, to start over, remove the *.secret files in " +
                          impl->dir.string());
        unsigned char pk[crypto_box_PUBLICKEYBYTES];
        SecretBuffer sk = SBX_TRY(SecretBuffer::allocate(crypto_box_SECRETKEYBYTES));
        crypto_box_keypair(pk, sk.data());
        SecretBuffer kek = SBX_TRY(SecretBuffer::allocate(detail::kKeySize));
        randombytes_buf(kek.data(), kek.size());
        KeyFile k;
        k.wrap = 1;
        k.salt.assign(detail::kSaltSize, '\0');
        k.public_key.assign(reinterpret_cast<const char*>(pk), sizeof pk);
        wrap_private_key(k, sk, kek);
        // wrap.key first: a crash in between leaves a stray wrap.key, never a store.key without its key.
        SBX_TRY_VOID(detail::write_atomic(impl->dir, kWrapFileName,
                                          detail::encode_wrap_file(kek.reveal())));
        SBX_TRY_VOID(detail::write_atomic(impl->dir, kKeyFileName, detail::encode_key_file(k)));
        logger()->info("created a secret store (key-file mode) in {}", impl->dir.string());
      }
    }
  } else {
    SBX_TRY_VOID(detail::check_private_dir(impl->dir));
  }
  auto bytes = detail::read_private_file(impl->key_path(), detail::kMaxStoreFileSize);
  if (!bytes && bytes.error().code == ErrorCode::not_found)
    return fail(ErrorCode::not_found, "no secret store at " + impl->dir.string() + " (" + impl->key_path().string() + " is missing)",
                "create one with 'sbx secret set NAME' (or 'sbx secret show-public-key')");
  if (!bytes) return std::unexpected(bytes.error());
  impl->key = SBX_TRY(detail::decode_key_file(*bytes, impl->key_path()));
  if (impl->key.wrap == 1) (void)SBX_TRY(impl->read_wrap_key());  // modes and integrity, checked up front
  logger()->debug("opened the secret store at {} ({} mode)", impl->dir.string(), impl->key.wrap == 1 ? "key-file" : "passphrase");
  return Store(std::move(impl));
}

const fs::path& Store::dir() const { return impl_->dir; }
WrapMode Store::wrap_mode() const { return impl_->key.wrap == 1 ? WrapMode::key_file : WrapMode::passphrase; }
KdfLimits Store::kdf_limits() const { return KdfLimits{impl_->key.opslimit, impl_->key.memlimit}; }
std::string Store::public_key() const { return impl_->key.public_key; }

std::string Store::public_key_base64() const {
  const std::string& pk = impl_->key.public_key;
  std::string out(sodium_base64_encoded_len(pk.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), u(pk), pk.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string Store::fingerprint() const { return "SHA256:" + digest::sha256_hex(impl_->key.public_key).substr(0, 16); }

Result<void> Store::unlock() {
  std::lock_guard lock(impl_->mu);
  return impl_->unlock_locked();
}

bool Store::unlocked() const {
  std::lock_guard lock(impl_->mu);
  return !impl_->private_key.empty();
}

Result<SecretBuffer> Store::get(std::string_view name) const {
  SBX_TRY_VOID(validate_name(name));
  SecretFile s = SBX_TRY(impl_->read_secret(name));
  std::lock_guard lock(impl_->mu);
  SecretBuffer value = SBX_TRY(impl_->open_box(name, s.box, impl_->secret_path(name).string()));
  logger()->debug("decrypted secret '{}'", name);
  return value;
}

Result<void> Store::set(std::string_view name, const SecretBuffer& value) {
  SBX_TRY_VOID(validate_name(name));
  std::string box = SBX_TRY(seal_for(impl_->key.public_key, name, value));
  return impl_->write_secret(name, std::move(box));
}

Result<void> Store::import_sealed(std::string_view name, std::string_view sealed_box) {
  SBX_TRY_VOID(validate_name(name));
  std::string box(sealed_box);
  {
    std::lock_guard lock(impl_->mu);
    (void)SBX_TRY(impl_->open_box(name, box, "sealed secret '" + std::string(name) + "'"));
  }
  return impl_->write_secret(name, std::move(box));
}

Result<SecretInfo> Store::info(std::string_view name) const {
  SBX_TRY_VOID(validate_name(name));
  SecretFile s = SBX_TRY(impl_->read_secret(name));
  SecretInfo i;
  i.name = s.name;
  i.created = from_seconds(s.created);
  i.updated = from_seconds(s.updated);
  i.value_size = s.box.size() - crypto_box_SEALBYTES - 2 - s.name.size();
  return i;
}

Result<std::vector<SecretInfo>> Store::list() const {
  SBX_TRY_VOID(detail::check_private_dir(impl_->dir));
  std::vector<SecretInfo> out;
  for (const std::string& name : SBX_TRY(impl_->names())) {
    if (!validate_name(name)) {
      SecretInfo bad;
      bad.name = name;
      bad.problem = impl_->secret_path(name).string() + " does not have a valid secret name; remove or rename it";
      out.push_back(std::move(bad));
      continue;
    }
    auto i = info(name);
    if (i) {
      out.push_back(std::move(*i));
    } else {
      SecretInfo bad;
      bad.name = name;
      bad.problem = i.error().message + (i.error().hint.empty() ? "" : " (" + i.error().hint + ")");
      out.push_back(std::move(bad));
    }
  }
  return out;
}

Result<void> Store::remove(std::string_view name) {
  SBX_TRY_VOID(validate_name(name));
  auto lock = SBX_TRY(detail::DirLock::acquire(impl_->dir));
  auto removed = detail::remove_durable(impl_->dir, std::string(name) + std::string(kSecretSuffix));
  if (!removed && removed.error().code == ErrorCode::not_found) {
    auto all = impl_->names();
    return std::unexpected(not_found_error(name, all ? *all : std::vector<std::string>{}, impl_->dir));
  }
  if (!removed) return removed;
  logger()->info("removed secret '{}' from {}", name, impl_->dir.string());
  return {};
}

Result<void> Store::rewrap(const std::optional<SecretBuffer>& new_passphrase, KdfLimits limits) {
  std::lock_guard guard(impl_->mu);
  SBX_TRY_VOID(impl_->unlock_locked());
  auto lock = SBX_TRY(detail::DirLock::acquire(impl_->dir));
  KeyFile k = impl_->key;
  SecretBuffer kek;
  if (new_passphrase) {
    if (new_passphrase->empty()) return fail(ErrorCode::invalid, "the new passphrase is empty", "choose a passphrase");
    k.wrap = 2;
    k.kdf_alg = crypto_pwhash_ALG_ARGON2ID13;
    k.opslimit = limits.opslimit;
    k.memlimit = limits.memlimit;
    k.salt = random_bytes(detail::kSaltSize);
    kek = SBX_TRY(derive_kek(*new_passphrase, k));
  } else {
    k.wrap = 1;
    k.kdf_alg = 0;
    k.opslimit = k.memlimit = 0;
    k.salt.assign(detail::kSaltSize, '\0');
    kek = SBX_TRY(SecretBuffer::allocate(detail::kKeySize));
    randombytes_buf(kek.data(), kek.size());
    SBX_TRY_VOID(detail::write_atomic(impl_->dir, kWrapFileName, detail::encode_wrap_file(kek.reveal())));
  }
  wrap_private_key(k, impl_->private_key, kek);
  SBX_TRY_VOID(detail::write_atomic(impl_->dir, kKeyFileName, detail::encode_key_file(k)));
  impl_->key = k;
  if (new_passphrase) {
    std::error_code ec;
    if (fs::exists(impl_->wrap_path(), ec)) SBX_TRY_VOID(detail::remove_durable(impl_->dir, kWrapFileName));
  }
  logger()->info("re-wrapped the private key of {} ({} mode)", impl_->dir.string(), new_passphrase ? "passphrase" : "key-file");
  return {};
}

fs::path Store::secret_path(std::string_view name) const { return impl_->secret_path(name); }

Result<KdfLimits> KdfLimits::preset(std::string_view name) {
  if (name == "interactive") return KdfLimits{crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
  if (name == "moderate") return KdfLimits{crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
  if (name == "sensitive") return KdfLimits{crypto_pwhash_OPSLIMIT_SENSITIVE, crypto_pwhash_MEMLIMIT_SENSITIVE};
  if (name == "min") return KdfLimits{crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
  return fail(ErrorCode::invalid, "unknown key-derivation preset '" + std::string(name) + "'",
              "use interactive, moderate (the default) or sensitive");
}

PassphraseSource default_passphrase_source() {
  return [](std::string_view prompt) { return read_passphrase("SBX_SECRET_PASSPHRASE_FD", prompt, false); };
}

Result<std::string> seal_for(std::string_view public_key, std::string_view name, const SecretBuffer& value) {
  SBX_TRY_VOID(detail::ensure_sodium());
  SBX_TRY_VOID(validate_name(name));
  if (public_key.size() != crypto_box_PUBLICKEYBYTES)
    return fail(ErrorCode::invalid, "a public key has 32 bytes, this one has " + std::to_string(public_key.size()));
  if (value.empty()) return fail(ErrorCode::invalid, "the value of secret '" + std::string(name) + "' is empty", "provide a value");
  if (value.size() > kMaxValueSize)
    return fail(ErrorCode::invalid, "the value of secret '" + std::string(name) + "' is larger than 1 MiB",
                "store a smaller value (a token or key, not a whole file tree)");
  SecretBuffer plain = SBX_TRY(detail::encode_plaintext(name, value));
  std::string box(crypto_box_SEALBYTES + plain.size(), '\0');
  if (crypto_box_seal(reinterpret_cast<unsigned char*>(box.data()), plain.data(), plain.size(),
                      reinterpret_cast<const unsigned char*>(public_key.data())) != 0)
    return fail(ErrorCode::invalid, "cannot seal to this public key (it is not a valid X25519 key)",
                "copy the key again from 'sbx secret show-public-key' on the store owner's machine");
  return box;
}

Result<std::string> decode_public_key(std::string_view base64) {
  SBX_TRY_VOID(detail::ensure_sodium());
  while (!base64.empty() && std::isspace(static_cast<unsigned char>(base64.back()))) base64.remove_suffix(1);
  while (!base64.empty() && std::isspace(static_cast<unsigned char>(base64.front()))) base64.remove_prefix(1);
  std::string out(crypto_box_PUBLICKEYBYTES, '\0');
  std::size_t len = 0;
  if (base64.size() != 44 ||
      sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), base64.data(), base64.size(), nullptr, &len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != crypto_box_PUBLICKEYBYTES)
    return fail(ErrorCode::invalid, "not a secret store public key (expected 44 base64 characters)",
                "use the exact line printed by 'sbx secret show-public-key' on the store owner's machine");
  return out;
}

}  // namespace sbx::secrets
