// sbx secret rm NAME...: delete secrets from the store.
#include <iostream>

#include "cli/cmd_secret_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "secrets/names.h"

namespace sbx::cli {
namespace {

int run_secret_rm(const Args& args) {
  const Output out = Output::for_args(args);
  for (const auto& name : args.positionals)
    if (auto ok = secrets::validate_name(name); !ok) return out.error(ok.error());
  if (auto ok = secret_cmd::prepare(); !ok) return out.error(ok.error());
  auto store = secret_cmd::open_store(false);
  if (!store) return out.error(store.error());
  int rc = 0;
  for (const auto& name : args.positionals) {
    if (auto ok = store->remove(name); !ok) {
      rc = out.error(ok.error());
      continue;
    }
    out.note("removed secret '" + name + "'");
  }
  return rc;
}

}  // namespace

const CommandSpec kSecretRmCommand{
    .name = "secret rm",
    .summary = "Delete secrets from the store",
    .usage = "sbx secret rm NAME...",
    .description =
        "Deletes each named secret from the host secret store. A damaged secret file can be\n"
        "removed too (that is how to recover from one). The file is unlinked and the directory\n"
        "synced; the sealed bytes are not shredded (they are useless without the private key).\n"
        "Sandboxes already running keep what their proxy has loaded until they are recreated.\n"
        "EXIT STATUS\n"
        "0  all removed;  1  a name was not in the store, or the store is unusable;  2  usage error\n"
        SBX_SECRET_HELP_FILES
        "EXAMPLES\n"
        "sbx secret rm GITHUB_TOKEN\n"
        "sbx secret rm OLD_KEY OTHER_OLD_KEY",
    .options = {},
    .min_positionals = 1,
    .max_positionals = kUnlimited,
    .run = run_secret_rm,
};

}  // namespace sbx::cli
