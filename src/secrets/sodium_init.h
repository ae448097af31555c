#pragma once
// libsodium must be initialised once before use; every entry point of sbx_secrets calls this.
#include "common/error.h"

namespace sbx::secrets::detail {

/// sodium_init() once per process; an Error if libsodium cannot initialise.
Result<void> ensure_sodium();

}  // namespace sbx::secrets::detail
