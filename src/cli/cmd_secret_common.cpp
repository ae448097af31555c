// Shared helpers of the `sbx secret ...` commands.
#include "cli/cmd_secret_common.h"

#include <ctime>

#include "cli/output.h"
#include "secrets/harden.h"

namespace sbx::cli::secret_cmd {

Result<void> prepare() { return secrets::harden_process(); }

Result<secrets::Store> open_store(bool create) {
  const bool existed = secrets::Store::exists();
  auto store = secrets::Store::open({.create = create});
  // Said even with --json: a store created as a side effect is worth telling a person.
  if (store && !existed)
    Output().note("created a new secret store in " + store->dir().string() +
                  "\n  its private key is protected by a key file readable only by you; "
                  "'sbx secret passphrase' protects it with a passphrase instead");
  return store;
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace sbx::cli::secret_cmd
