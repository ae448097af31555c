#pragma once
// Where the proxy gets secret values for `inject = "header"`, and the locked buffer that holds
// them. Plaintext lives only in sodium_malloc'd memory (mlocked, guarded, zeroed on free).
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace sbx::proxy {

/// A byte buffer in locked memory, wiped when destroyed. No formatter, no implicit copies.
class LockedBuffer {
 public:
  LockedBuffer() = default;
  explicit LockedBuffer(size_t capacity);
  ~LockedBuffer();
  LockedBuffer(LockedBuffer&& o) noexcept;
  LockedBuffer& operator=(LockedBuffer&& o) noexcept;
  LockedBuffer(const LockedBuffer&) = delete;
  LockedBuffer& operator=(const LockedBuffer&) = delete;

  /// Append bytes; false when they do not fit (nothing is appended then).
  bool append(std::string_view bytes);
  std::string_view view() const { return {data_, size_}; }
  size_t size() const { return size_; }
  bool valid() const { return data_ != nullptr; }

 private:
  char* data_ = nullptr;
  size_t size_ = 0, capacity_ = 0;
};

/// Looks up a secret's value by its store name.
using SecretSource = std::function<Result<LockedBuffer>(const std::string& name)>;

/// The test-only source: SBX_TEST_SECRET_<NAME> (name upper-cased, '-' and '.' as '_'),
/// honoured only when SBX_PROXY_TEST_SECRETS=1. Otherwise every lookup fails with a hint.
SecretSource test_env_secret_source();

}  // namespace sbx::proxy
