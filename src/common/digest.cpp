#include "common/digest.h"

#include <fstream>

#include <sodium.h>

namespace sbx::digest {
namespace {
static_assert(sizeof(crypto_hash_sha256_state) <= 512);
crypto_hash_sha256_state* as_state(unsigned char* p) { return reinterpret_cast<crypto_hash_sha256_state*>(p); }

std::string to_hex(const unsigned char* bytes, size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}
}  // namespace

Sha256::Sha256() { crypto_hash_sha256_init(as_state(state_)); }

void Sha256::update(std::string_view bytes) {
  crypto_hash_sha256_update(as_state(state_), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

std::string Sha256::hex() {
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(as_state(state_), out);
  return to_hex(out, sizeof out);
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.hex();
}

std::string sha256(std::string_view bytes) { return "sha256:" + sha256_hex(bytes); }

Result<std::string> sha256_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(ErrorCode::not_found, "cannot read " + file.string());
  Sha256 h;
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    h.update(std::string_view(buf, static_cast<size_t>(in.gcount())));
  }
  if (in.bad()) return fail(ErrorCode::io, "read error on " + file.string());
  return h.hex();
}

}  // namespace sbx::digest
