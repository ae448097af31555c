#pragma once
// The sealed blob that `sbx secret seal` writes and `sbx secret import` reads: one ASCII line,
//   sbx-sealed-secret-v1:<base64 of the binary below>
// binary: magic "SBXBLOB\x01", u8 name length, name, 32-byte recipient public key,
//         u32 LE box length, crypto_box_seal box, 32-byte BLAKE2b checksum of all before it.
// The box's plaintext binds the name (see seal_for), so a blob renamed on the way is detected
// when it is opened; the checksum catches transport damage before any key is used.
#include <string>
#include <string_view>

#include "common/error.h"

namespace sbx::secrets {

/// A decoded sealed blob.
struct SealedBlob {
  std::string name;
  std::string recipient;  // raw 32-byte public key it was sealed to
  std::string box;        // crypto_box_seal output
};

/// The one-line text form of a blob (newline-terminated).
std::string encode_blob(const SealedBlob& blob);

/// Parse and check a blob's text (surrounding whitespace allowed); `source` names it in errors.
Result<SealedBlob> decode_blob(std::string_view text, std::string_view source);

}  // namespace sbx::secrets
