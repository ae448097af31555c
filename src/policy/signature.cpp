#include "policy/signature.h"

#include <algorithm>
#include <fstream>

#include <sodium.h>

#include "common/digest.h"
#include "common/text.h"

namespace sbx::policy {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPublicTag = "sbx-policy-public-key-v1";
constexpr std::string_view kSecretTag = "sbx-policy-secret-key-v1";
constexpr std::string_view kSignatureTag = "sbx-policy-signature-v1";
constexpr size_t kMaxKeyFile = 4096;

Result<void> ready() {
  if (sodium_init() < 0) return fail(ErrorCode::runtime, "libsodium failed to initialise");
  return {};
}

std::string base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

std::optional<std::string> unbase64(std::string_view text, size_t want) {
  std::string out(want + 1, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr, &len,
                        &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size() || len != want)
    return std::nullopt;
  out.resize(len);
  return out;
}

std::string key_id(std::string_view public_bytes) {
  std::string d = digest::sha256(public_bytes);  // "sha256:<hex>"
  return d.substr(d.find(':') + 1, 16);
}

// "<tag> <id> <base64>" with one optional trailing newline; the decoded bytes and the id.
struct Fields {
  std::string id;
  std::string bytes;
};
Result<Fields> parse_line(std::string_view text, std::string_view tag, size_t want, const std::string& display,
                          std::string_view what) {
  if (text.ends_with('\n')) text.remove_suffix(1);
  const auto parts = text::split(text, ' ');
  const auto bad = [&](std::string why) {
    return fail(ErrorCode::invalid, display + " is not " + std::string(what) + ": " + why,
                "expected one line '" + std::string(tag) + " <key id> <base64>' as sbx policy keygen / sign write it");
  };
  if (parts.size() != 3 || parts[0] != tag) return bad("the first word is not " + std::string(tag));
  auto bytes = unbase64(parts[2], want);
  if (!bytes) return bad("its base64 does not decode to " + std::to_string(want) + " bytes (truncated or altered?)");
  return Fields{parts[1], std::move(*bytes)};
}

std::string message_for(std::string_view text) {
  return std::string(kSignatureTag) + "\n" + std::string(text);
}

}  // namespace

fs::path signature_path(const fs::path& policy) { return fs::path(policy.string() + ".sig"); }

Result<KeyFiles> generate_key() {
  SBX_TRY_VOID(ready());
  std::string pk(crypto_sign_PUBLICKEYBYTES, '\0'), sk(crypto_sign_SECRETKEYBYTES, '\0');
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(pk.data()), reinterpret_cast<unsigned char*>(sk.data()));
  KeyFiles k;
  k.id = key_id(pk);
  k.public_text = std::string(kPublicTag) + " " + k.id + " " + base64(pk) + "\n";
  k.secret_text = std::string(kSecretTag) + " " + k.id + " " + base64(sk) + "\n";
  sodium_memzero(sk.data(), sk.size());
  return k;
}

Result<PublicKey> parse_public_key(std::string_view text, const std::string& display) {
  auto f = SBX_TRY(parse_line(text, kPublicTag, crypto_sign_PUBLICKEYBYTES, display, "a policy public key"));
  if (f.id != key_id(f.bytes))
    return fail(ErrorCode::invalid, display + ": the key id " + f.id + " does not belong to the key in it (altered?)",
                "install the .pub file exactly as sbx policy keygen wrote it");
  return PublicKey{f.id, f.bytes, {}};
}

Result<std::vector<PublicKey>> load_trusted_keys(const fs::path& dir) {
  std::vector<PublicKey> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".pub") files.push_back(it->path());
  if (ec) return fail(ErrorCode::io, "cannot list the trusted policy keys in " + dir.string() + ": " + ec.message(), "check its permissions");
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string text(kMaxKeyFile, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (!in.eof() && in.gcount() == static_cast<std::streamsize>(kMaxKeyFile))
      return fail(ErrorCode::invalid, f.string() + " is too large to be a policy public key");
    text.resize(static_cast<size_t>(in.gcount()));
    auto k = SBX_TRY(parse_public_key(text, f.string()));
    k.file = f;
    out.push_back(std::move(k));
  }
  return out;
}

Result<std::string> sign_policy(std::string_view text, std::string_view secret_key) {
  SBX_TRY_VOID(ready());
  auto f = SBX_TRY(parse_line(secret_key, kSecretTag, crypto_sign_SECRETKEYBYTES, "the secret key", "a policy secret key"));
  const std::string msg = message_for(text);
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, reinterpret_cast<const unsigned char*>(msg.data()),
                       msg.size(), reinterpret_cast<const unsigned char*>(f.bytes.data()));
  // The public half is the last 32 bytes of a libsodium Ed25519 secret key.
  const std::string id = key_id(std::string_view(f.bytes).substr(crypto_sign_SECRETKEYBYTES - crypto_sign_PUBLICKEYBYTES));
  sodium_memzero(f.bytes.data(), f.bytes.size());
  return std::string(kSignatureTag) + " " + id + " " + base64(sig) + "\n";
}

Result<std::string> verify_policy(std::string_view text, std::string_view signature, const std::vector<PublicKey>& keys) {
  SBX_TRY_VOID(ready());
  auto f = SBX_TRY(parse_line(signature, kSignatureTag, crypto_sign_BYTES, "the signature", "a policy signature"));
  const std::string msg = message_for(text);
  auto key = std::find_if(keys.begin(), keys.end(), [&](const PublicKey& k) { return k.id == f.id; });
  if (key == keys.end())
    return fail(ErrorCode::permission, "it is signed by key " + f.id + ", which is not a trusted key",
                "sign it with a key whose .pub is installed in the trusted keys directory");
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(f.bytes.data()),
                                  reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
                                  reinterpret_cast<const unsigned char*>(key->bytes.data())) != 0)
    return fail(ErrorCode::permission, "its signature does not match its contents (changed after signing?)",
                "sign the file again with sbx policy sign, or restore the signed version");
  return key->id;
}

}  // namespace sbx::policy
