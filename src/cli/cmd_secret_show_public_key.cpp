// sbx secret show-public-key: print the store's public key, which `sbx secret seal` needs.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cmd_secret_common.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace sbx::cli {
namespace {

int run_secret_show_public_key(const Args& args) {
  const Output out = Output::for_args(args);
  const bool json = out.json();
  if (auto ok = secret_cmd::prepare(); !ok) return out.error(ok.error());
  auto store = secret_cmd::open_store(true);
  if (!store) return out.error(store.error());
  if (json) {
    out.result({{"ok", true},
                {"public_key", store->public_key_base64()},
                {"fingerprint", store->fingerprint()},
                {"store", store->dir().string()},
                {"mode", store->wrap_mode() == secrets::WrapMode::passphrase ? "passphrase" : "key-file"}});
  } else {
    std::cout << store->public_key_base64() << '\n';
    out.note("fingerprint " + store->fingerprint() + " (compare it with the sender by another channel)");
  }
  return 0;
}

}  // namespace

const CommandSpec kSecretShowPublicKeyCommand{
    .name = "secret show-public-key",
    .summary = "Print the store's public key, for others to seal secrets to you",
    .usage = "sbx secret show-public-key [--json]",
    .description =
        "Prints the X25519 public key of the host secret store (44 base64 characters) on stdout,\n"
        "creating the store if there is none yet. The key is not secret: give it to a teammate\n"
        "or a CI job, which runs 'sbx secret seal --public-key KEY NAME' to make a blob only this\n"
        "store can open; you add the blob with 'sbx secret import'. The fingerprint (on stderr, or\n"
        "in --json) lets both sides check the key by another channel.\n"
        "EXIT STATUS\n"
        "0  printed;  1  the store could not be opened or created;  2  usage error\n"
        "OUTPUT\n"
        "--json: {\"ok\":true,\"public_key\":\"...\",\"fingerprint\":\"SHA256:...\",\"store\":DIR,\n"
        "        \"mode\":\"key-file\"|\"passphrase\"}\n"
        SBX_SECRET_HELP_FILES
        "EXAMPLES\n"
        "sbx secret show-public-key > my-sbx-key.pub",
    .options = {{"json", 0, "", "Print a JSON object on stdout."}},
    .min_positionals = 0,
    .max_positionals = 0,
    .run = run_secret_show_public_key,
};

}  // namespace sbx::cli
