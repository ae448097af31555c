#include "secrets/sodium_init.h"

#include <sodium.h>

namespace sbx::secrets::detail {

Result<void> ensure_sodium() {
  static const int rc = sodium_init();  // thread-safe static init; sodium_init is idempotent
  if (rc < 0) return fail(ErrorCode::runtime, "libsodium failed to initialise", "check that /dev/urandom is readable");
  return {};
}

}  // namespace sbx::secrets::detail
