#pragma once
// Helpers shared by the `sbx secret ...` commands (cmd_secret_*.cpp); defines no command.
#include <chrono>
#include <string>

#include "common/error.h"
#include "secrets/store.h"

namespace sbx::cli::secret_cmd {

/// Harden the process (no core dumps, no ptrace attach) before any secret is read or decrypted.
Result<void> prepare();
/// Open the default store; with `create`, make one if missing and say so on stderr.
Result<secrets::Store> open_store(bool create);
/// "2026-11-26T23:40:00Z".
std::string iso_time(std::chrono::system_clock::time_point t);

/// The ENVIRONMENT and FILES sections every `sbx secret` manual ends with.
#define SBX_SECRET_HELP_FILES                                                                   \
  "ENVIRONMENT\n"                                                                               \
  "SBX_DATA_DIR  The store is $SBX_DATA_DIR/secrets (default $XDG_DATA_HOME/sbx/secrets,\n"     \
  "              else ~/.local/share/sbx/secrets).\n"                                           \
  "SBX_SECRET_PASSPHRASE_FD\n"                                                                  \
  "              A file descriptor to read the store passphrase from (one line), for scripts\n" \
  "              and tests; otherwise it is asked on the terminal with echo off. There is\n"    \
  "              deliberately no option or variable that holds the passphrase itself.\n"       \
  "SBX_LOG       Log level on stderr; logs name secrets, never their values.\n"                 \
  "FILES\n"                                                                                     \
  "secrets/             the store directory, mode 0700\n"                                       \
  "secrets/store.key    public key and wrapped private key, mode 0600\n"                        \
  "secrets/wrap.key     the key that wraps it, in key-file mode, mode 0600\n"                   \
  "secrets/NAME.secret  one sealed secret, mode 0600\n"

}  // namespace sbx::cli::secret_cmd
