#include "secrets/blob.h"

#include <cctype>
#include <cstring>

#include <sodium.h>

#include "secrets/format.h"
#include "secrets/names.h"
#include "secrets/sodium_init.h"

namespace sbx::secrets {
namespace {

constexpr std::string_view kPrefix = "sbx-sealed-secret-v1:";
constexpr std::string_view kMagic{"SBXBLOB\x01", 8};

Error bad(std::string_view source, std::string what) {
  return make_error(ErrorCode::invalid, std::string(source) + ": " + what,
                    "ask the sender for a fresh blob made with 'sbx secret seal'");
}

}  // namespace

std::string encode_blob(const SealedBlob& blob) {
  (void)detail::ensure_sodium();
  std::string bin(kMagic);
  detail::put_u8(bin, static_cast<std::uint8_t>(blob.name.size()));
  bin += blob.name;
  bin += blob.recipient;
  detail::put_u32(bin, static_cast<std::uint32_t>(blob.box.size()));
  bin += blob.box;
  bin += detail::checksum(bin);
  std::string b64(sodium_base64_encoded_len(bin.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), reinterpret_cast<const unsigned char*>(bin.data()), bin.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  b64.resize(std::strlen(b64.c_str()));
  return std::string(kPrefix) + b64 + "\n";
}

Result<SealedBlob> decode_blob(std::string_view text, std::string_view source) {
  SBX_TRY_VOID(detail::ensure_sodium());
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  if (!text.starts_with(kPrefix))
    return std::unexpected(bad(source, "is not a sealed secret (it does not start with '" + std::string(kPrefix) + "')"));
  text.remove_prefix(kPrefix.size());
  if (text.size() > 2 * detail::kMaxStoreFileSize) return std::unexpected(bad(source, "is too large to be a sealed secret"));
  std::string bin(text.size(), '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), text.data(), text.size(), nullptr, &len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
    return std::unexpected(bad(source, "is damaged (invalid base64)"));
  bin.resize(len);
  if (bin.size() < kMagic.size() + detail::kChecksumSize || bin.substr(0, kMagic.size()) != kMagic)
    return std::unexpected(bad(source, "is damaged or from an unknown version of sbx (wrong magic)"));
  const std::string_view body = std::string_view(bin).substr(0, bin.size() - detail::kChecksumSize);
  if (detail::checksum(body) != std::string_view(bin).substr(body.size()))
    return std::unexpected(bad(source, "is damaged or truncated (checksum mismatch)"));
  detail::Reader r(body.substr(kMagic.size()));
  SealedBlob blob;
  blob.name = r.take(r.u8());
  blob.recipient = r.take(detail::kKeySize);
  blob.box = r.take(r.u32());
  if (r.short_read() || r.remaining() != 0) return std::unexpected(bad(source, "has an inconsistent layout"));
  if (!validate_name(blob.name)) return std::unexpected(bad(source, "names an invalid secret"));
  if (blob.box.size() < crypto_box_SEALBYTES + 3) return std::unexpected(bad(source, "holds a sealed box too short for a secret"));
  return blob;
}

}  // namespace sbx::secrets
