#pragma once
// SecretBuffer: the only type that holds a decrypted secret (or a passphrase, or a private key).
// Its bytes live in libsodium guarded memory (sodium_malloc: guard pages, a canary, mlock'd
// where RLIMIT_MEMLOCK allows), are zeroed, unlocked and freed in the destructor, and cannot be
// copied. There is deliberately no operator<< and no fmt formatter: a secret cannot be logged
// by accident (formatting one is a compile error). reveal() is the one door to the bytes.
#include <cstddef>
#include <string_view>

#include "common/error.h"

namespace sbx::secrets {

/// Move-only owner of secret bytes in sodium-locked memory.
class SecretBuffer {
 public:
  /// An empty buffer (size 0, no allocation).
  SecretBuffer() = default;
  /// A zero-filled buffer of `size` bytes; an Error when guarded memory cannot be allocated.
  static Result<SecretBuffer> allocate(std::size_t size);
  /// A buffer holding a copy of `bytes` (the caller should wipe its own copy).
  static Result<SecretBuffer> copy_of(std::string_view bytes);

  SecretBuffer(SecretBuffer&& other) noexcept;
  SecretBuffer& operator=(SecretBuffer&& other) noexcept;
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  /// Zeroes, unlocks and frees the bytes.
  ~SecretBuffer();

  /// Number of secret bytes.
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// The secret bytes; valid while this buffer lives and is not moved from. Never log them.
  std::string_view reveal() const { return {reinterpret_cast<const char*>(data_), size_}; }
  /// Writable access, for code that fills the buffer (decryption, reading a prompt).
  unsigned char* data() { return data_; }
  const unsigned char* data() const { return data_; }
  /// Shrink the visible size (the tail is zeroed); used after reading fewer bytes than allocated.
  void truncate(std::size_t new_size);
  /// Constant-time comparison with another buffer.
  bool equals(const SecretBuffer& other) const;

 private:
  void release() noexcept;
  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace sbx::secrets
