// sbx secret set NAME: seal a value read from stdin, a no-echo prompt, or a file into the store.
#include <iostream>

#include "cli/cmd_secret_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "secrets/input.h"
#include "secrets/names.h"

namespace sbx::cli {
namespace {

int run_secret_set(const Args& args) {
  const Output out = Output::for_args(args);
  const std::string& name = args.positionals.front();
  if (auto ok = secrets::validate_name(name); !ok) return out.error(ok.error());
  if (auto ok = secret_cmd::prepare(); !ok) return out.error(ok.error());
  auto value = secrets::read_value(name, args.value("from-file").value_or(""));
  if (!value) return out.error(value.error());
  auto store = secret_cmd::open_store(true);
  if (!store) return out.error(store.error());
  if (auto ok = store->set(name, *value); !ok) return out.error(ok.error());
  out.note("stored secret '" + name + "' in " + store->dir().string());
  return 0;
}

}  // namespace

const CommandSpec kSecretSetCommand{
    .name = "secret set",
    .summary = "Store a secret (value from stdin, a hidden prompt, or a file)",
    .usage = "sbx secret set [--from-file PATH] NAME",
    .description =
        "Seals a value under NAME in the host secret store, creating the store on first use.\n"
        "The value never comes from the command line (where other users and shell history\n"
        "could see it). It is read:\n"
        "  - from the file given with --from-file, byte for byte; or\n"
        "  - from a prompt with echo turned off, when stdin is a terminal; or\n"
        "  - from stdin until end of file, minus one trailing newline (so 'echo' works).\n"
        "\n"
        "An existing secret of the same name is replaced (its created time is kept). Adding a\n"
        "secret needs only the store's public key, so no passphrase is asked.\n"
        "\n"
        "NAME is 1-128 characters from A-Z a-z 0-9 _ . - and starts with a letter, a digit or '_'.\n"
        "A Sandboxfile refers to it in a [[secret]] entry: name = \"NAME\".\n"
        "EXIT STATUS\n"
        "0  stored;  1  the value or the store could not be read or written;  2  usage error\n"
        SBX_SECRET_HELP_FILES
        "EXAMPLES\n"
        "sbx secret set GITHUB_TOKEN                      # asks for the value, hidden\n"
        "gh auth token | sbx secret set GITHUB_TOKEN\n"
        "sbx secret set --from-file ~/.config/key.pem DEPLOY_KEY",
    .options = {{"from-file", 'f', "PATH", "Read the value from PATH (exact bytes) instead of stdin."}},
    .min_positionals = 1,
    .max_positionals = 1,
    .run = run_secret_set,
};

}  // namespace sbx::cli
