#include "secrets/format.h"

#include <cstring>

#include <sodium.h>

#include "secrets/names.h"

namespace sbx::secrets::detail {
namespace {

constexpr std::string_view kKeyMagic{"SBX-KEY\0", 8};
constexpr std::string_view kWrapMagic{"SBX-WRAP", 8};
constexpr std::string_view kSecretMagic{"SBX-SECR", 8};
constexpr std::uint16_t kVersion = 1;

const char* kCorruptHint =
    "the file was damaged or edited; restore it from a backup, or remove it and set the secret again";

Error corrupt(const std::filesystem::path& file, std::string what, std::string hint = kCorruptHint) {
  return make_error(ErrorCode::invalid, file.string() + ": " + what, std::move(hint));
}

// Magic, version, minimum length, and the trailing checksum: the checks every file shares.
Result<std::string_view> check_envelope(std::string_view bytes, std::string_view magic, std::string_view kind,
                                        const std::filesystem::path& file) {
  if (bytes.size() < magic.size() || bytes.substr(0, magic.size()) != magic)
    return std::unexpected(corrupt(file, "is not an sbx " + std::string(kind) + " (wrong magic header)",
                                   "the file is damaged or is not an sbx file; restore it from a backup or remove it"));
  if (bytes.size() < magic.size() + 2 + kChecksumSize)
    return std::unexpected(corrupt(file, "is truncated (" + std::to_string(bytes.size()) + " bytes)"));
  Reader r(bytes.substr(magic.size()));
  const std::uint16_t version = r.u16();
  if (version != kVersion)
    return std::unexpected(corrupt(file, "has format version " + std::to_string(version) + ", this sbx reads version " +
                                             std::to_string(kVersion),
                                   "if a newer sbx wrote it, use that version; otherwise the file is damaged: restore it from a backup"));
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumSize);
  const std::string_view sum = bytes.substr(bytes.size() - kChecksumSize);
  const std::string expected = checksum(body);
  if (sodium_memcmp(expected.data(), sum.data(), kChecksumSize) != 0)
    return std::unexpected(corrupt(file, "is corrupt or truncated (checksum mismatch)"));
  return body.substr(magic.size() + 2);
}

}  // namespace

void put_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
void put_u16(std::string& out, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t Reader::little(std::size_t n) {
  if (remaining() < n) {
    short_ = true;
    pos_ = bytes_.size();
    return 0;
  }
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes_[pos_ + i])) << (8 * i);
  pos_ += n;
  return v;
}
std::uint8_t Reader::u8() { return static_cast<std::uint8_t>(little(1)); }
std::uint16_t Reader::u16() { return static_cast<std::uint16_t>(little(2)); }
std::uint32_t Reader::u32() { return static_cast<std::uint32_t>(little(4)); }
std::uint64_t Reader::u64() { return little(8); }
std::string Reader::take(std::size_t n) {
  if (remaining() < n) {
    short_ = true;
    pos_ = bytes_.size();
    return {};
  }
  std::string s(bytes_.substr(pos_, n));
  pos_ += n;
  return s;
}

std::string checksum(std::string_view bytes) {
  std::string out(kChecksumSize, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), nullptr, 0);
  return out;
}

std::string key_file_header(const KeyFile& k) {
  std::string out(kKeyMagic);
  put_u16(out, kVersion);
  put_u8(out, k.wrap);
  put_u8(out, k.kdf_alg);
  put_u64(out, k.opslimit);
  put_u64(out, k.memlimit);
  out += k.salt;
  out += k.public_key;
  out += k.nonce;
  put_u16(out, static_cast<std::uint16_t>(kWrappedSize));
  return out;
}

std::string encode_key_file(const KeyFile& k) {
  std::string out = key_file_header(k);
  out += k.wrapped;
  out += checksum(out);
  return out;
}

Result<KeyFile> decode_key_file(std::string_view bytes, const std::filesystem::path& file) {
  const std::string_view body = SBX_TRY(check_envelope(bytes, kKeyMagic, "store key file", file));
  if (bytes.size() != kKeyFileSize)
    return std::unexpected(corrupt(file, "has " + std::to_string(bytes.size()) + " bytes, a store key file has " +
                                             std::to_string(kKeyFileSize)));
  Reader r(body);
  KeyFile k;
  k.wrap = r.u8();
  k.kdf_alg = r.u8();
  k.opslimit = r.u64();
  k.memlimit = r.u64();
  k.salt = r.take(kSaltSize);
  k.public_key = r.take(kKeySize);
  k.nonce = r.take(kNonceSize);
  const std::uint16_t wrapped_len = r.u16();
  k.wrapped = r.take(kWrappedSize);
  if (r.short_read() || r.remaining() != 0 || wrapped_len != kWrappedSize)
    return std::unexpected(corrupt(file, "has an inconsistent layout"));
  if (k.wrap == 1) {
    if (k.kdf_alg != 0 || k.opslimit != 0 || k.memlimit != 0 || k.salt != std::string(kSaltSize, '\0'))
      return std::unexpected(corrupt(file, "is in key-file mode but records key-derivation parameters"));
  } else if (k.wrap == 2) {
    if (k.kdf_alg != crypto_pwhash_ALG_ARGON2ID13)
      return std::unexpected(corrupt(file, "names key-derivation algorithm " + std::to_string(k.kdf_alg) + ", not Argon2id"));
    // Bounds keep a hostile file from making us burn hours or gigabytes before failing.
    if (k.opslimit < crypto_pwhash_OPSLIMIT_MIN || k.opslimit > 64 || k.memlimit < crypto_pwhash_MEMLIMIT_MIN ||
        k.memlimit > (std::uint64_t{4} << 30))
      return std::unexpected(corrupt(file, "records Argon2id parameters out of range (opslimit " + std::to_string(k.opslimit) +
                                               ", memlimit " + std::to_string(k.memlimit) + ")"));
  } else {
    return std::unexpected(corrupt(file, "has unknown key wrapping mode " + std::to_string(k.wrap)));
  }
  return k;
}

std::string encode_wrap_file(std::string_view key) {
  std::string out(kWrapMagic);
  put_u16(out, kVersion);
  put_u16(out, 0);
  out += key;
  out += checksum(out);
  return out;
}

Result<SecretBuffer> decode_wrap_file(std::string_view bytes, const std::filesystem::path& file) {
  const std::string_view body = SBX_TRY(check_envelope(bytes, kWrapMagic, "key file", file));
  if (bytes.size() != kWrapFileSize || body.size() != 2 + kKeySize || body[0] != 0 || body[1] != 0)
    return std::unexpected(corrupt(file, "has an inconsistent layout"));
  return SecretBuffer::copy_of(body.substr(2));
}

std::string encode_secret_file(const SecretFile& s) {
  std::string out(kSecretMagic);
  put_u16(out, kVersion);
  put_u64(out, static_cast<std::uint64_t>(s.created));
  put_u64(out, static_cast<std::uint64_t>(s.updated));
  put_u8(out, static_cast<std::uint8_t>(s.name.size()));
  out += s.name;
  put_u32(out, static_cast<std::uint32_t>(s.box.size()));
  out += s.box;
  out += checksum(out);
  return out;
}

Result<SecretFile> decode_secret_file(std::string_view bytes, const std::filesystem::path& file) {
  const std::string_view body = SBX_TRY(check_envelope(bytes, kSecretMagic, "secret file", file));
  Reader r(body);
  SecretFile s;
  s.created = static_cast<std::int64_t>(r.u64());
  s.updated = static_cast<std::int64_t>(r.u64());
  s.name = r.take(r.u8());
  s.box = r.take(r.u32());
  if (r.short_read() || r.remaining() != 0) return std::unexpected(corrupt(file, "has an inconsistent layout"));
  if (auto ok = validate_name(s.name); !ok) return std::unexpected(corrupt(file, "records an invalid secret name"));
  if (s.box.size() < crypto_box_SEALBYTES + 3)
    return std::unexpected(corrupt(file, "holds a sealed box too short to contain a secret"));
  return s;
}

Result<SecretBuffer> encode_plaintext(std::string_view name, const SecretBuffer& value) {
  SecretBuffer out = SBX_TRY(SecretBuffer::allocate(2 + name.size() + value.size()));
  out.data()[0] = 1;
  out.data()[1] = static_cast<unsigned char>(name.size());
  std::memcpy(out.data() + 2, name.data(), name.size());
  if (!value.empty()) std::memcpy(out.data() + 2 + name.size(), value.data(), value.size());
  return out;
}

Result<SecretBuffer> decode_plaintext(const SecretBuffer& plain, std::string_view expected_name, std::string_view where) {
  const std::string_view p = plain.reveal();
  if (p.size() < 3 || p[0] != 1 || p.size() < 2u + static_cast<unsigned char>(p[1]) + 1)
    return fail(ErrorCode::invalid, std::string(where) + ": the sealed value has an unknown layout",
                "it was not made by this version of sbx; seal it again");
  const std::size_t name_len = static_cast<unsigned char>(p[1]);
  const std::string_view bound = p.substr(2, name_len);
  if (!validate_name(bound))
    return fail(ErrorCode::invalid, std::string(where) + ": the sealed value is bound to an invalid secret name",
                "it was not made by sbx; ask its sender to seal it again with 'sbx secret seal'");
  if (bound != expected_name)
    return fail(ErrorCode::invalid,
                std::string(where) + ": the sealed value belongs to secret '" + std::string(bound) + "', not '" +
                    std::string(expected_name) + "' (the file or blob was renamed)",
                "import or set it under its own name, '" + std::string(bound) + "'");
  return SecretBuffer::copy_of(p.substr(2 + name_len));
}

}  // namespace sbx::secrets::detail
