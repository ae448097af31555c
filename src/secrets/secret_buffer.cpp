#include "secrets/secret_buffer.h"

#include <cstring>
#include <utility>

#include <sodium.h>

#include "secrets/sodium_init.h"

namespace sbx::secrets {

Result<SecretBuffer> SecretBuffer::allocate(std::size_t size) {
  SBX_TRY_VOID(detail::ensure_sodium());
  SecretBuffer b;
  if (size == 0) return b;
  // sodium_malloc puts the bytes right before a guard page and mlock()s them when it can.
  void* p = sodium_malloc(size);
  if (!p)
    return fail(ErrorCode::io, "cannot allocate " + std::to_string(size) + " bytes of guarded memory for a secret",
                "raise the memory-lock limit (ulimit -l) or free memory");
  // Lock explicitly too: sodium_malloc ignores an mlock failure, and so do we (RLIMIT_MEMLOCK
  // may be small for unprivileged users); the bytes are still zeroed on free.
  (void)sodium_mlock(p, size);
  std::memset(p, 0, size);
  b.data_ = static_cast<unsigned char*>(p);
  b.size_ = size;
  b.capacity_ = size;
  return b;
}

Result<SecretBuffer> SecretBuffer::copy_of(std::string_view bytes) {
  SecretBuffer b = SBX_TRY(allocate(bytes.size()));
  if (!bytes.empty()) std::memcpy(b.data_, bytes.data(), bytes.size());
  return b;
}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

SecretBuffer::~SecretBuffer() { release(); }

void SecretBuffer::release() noexcept {
  if (!data_) return;
  sodium_memzero(data_, capacity_);
  sodium_munlock(data_, capacity_);  // zeroes again and unlocks
  sodium_free(data_);
  data_ = nullptr;
  size_ = capacity_ = 0;
}

void SecretBuffer::truncate(std::size_t new_size) {
  if (new_size >= size_) return;
  sodium_memzero(data_ + new_size, size_ - new_size);
  size_ = new_size;
}

bool SecretBuffer::equals(const SecretBuffer& other) const {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_, other.data_, size_) == 0;
}

}  // namespace sbx::secrets
