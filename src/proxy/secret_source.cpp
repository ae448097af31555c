#include "proxy/secret_source.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include <sodium.h>

namespace sbx::proxy {

LockedBuffer::LockedBuffer(size_t capacity) {
  if (sodium_init() < 0) return;
  // sodium_malloc: guard pages, mlock (when the limit allows), wiped by sodium_free.
  data_ = static_cast<char*>(sodium_malloc(capacity ? capacity : 1));
  if (data_) capacity_ = capacity;
}

LockedBuffer::~LockedBuffer() {
  if (data_) sodium_free(data_);
}

LockedBuffer::LockedBuffer(LockedBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), capacity_(std::exchange(o.capacity_, 0)) {}

LockedBuffer& LockedBuffer::operator=(LockedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) sodium_free(data_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
  }
  return *this;
}

bool LockedBuffer::append(std::string_view bytes) {
  if (!data_ || bytes.size() > capacity_ - size_) return false;
  std::memcpy(data_ + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
  return true;
}

SecretSource test_env_secret_source() {
  return [](const std::string& name) -> Result<LockedBuffer> {
    const char* gate = std::getenv("SBX_PROXY_TEST_SECRETS");
    if (!gate || std::string_view(gate) != "1")
      return fail(ErrorCode::not_found, "secret '" + name + "' is not available to the proxy",
                  "the secret store is not wired into this build yet; tests set SBX_PROXY_TEST_SECRETS=1");
    std::string var = "SBX_TEST_SECRET_";
    for (char c : name) var += (c == '-' || c == '.') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const char* v = std::getenv(var.c_str());
    if (!v) return fail(ErrorCode::not_found, "secret '" + name + "' is not set (test source " + var + ")");
    LockedBuffer b(std::strlen(v));
    if (!b.valid() || !b.append(v)) return fail(ErrorCode::runtime, "cannot allocate locked memory for a secret");
    return b;
  };
}

}  // namespace sbx::proxy
