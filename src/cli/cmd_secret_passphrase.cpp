// sbx secret passphrase: protect the store's private key with a passphrase, change it, or remove it.
#include <iostream>

#include "cli/cmd_secret_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "secrets/input.h"

namespace sbx::cli {
namespace {

int run_secret_passphrase(const Args& args) {
  const Output out = Output::for_args(args);
  if (auto ok = secret_cmd::prepare(); !ok) return out.error(ok.error());
  auto limits = secrets::KdfLimits::preset(args.value("kdf").value_or("moderate"));
  if (!limits) return out.error(limits.error());
  auto store = secret_cmd::open_store(true);
  if (!store) return out.error(store.error());
  // Unlock with the current wrapping before asking for the new passphrase.
  if (auto ok = store->unlock(); !ok) return out.error(ok.error());
  if (args.flag("remove")) {
    if (store->wrap_mode() == secrets::WrapMode::key_file) {
      out.note("the store has no passphrase; nothing to do");
      return 0;
    }
    if (auto ok = store->rewrap(std::nullopt, {}); !ok) return out.error(ok.error());
    out.note("passphrase removed; the private key is now protected by " + (store->dir() / "wrap.key").string() +
             " (mode 0600)");
    return 0;
  }
  auto pass = secrets::read_passphrase("SBX_SECRET_NEW_PASSPHRASE_FD", "New passphrase for the sbx secret store: ", true);
  if (!pass) return out.error(pass.error());
  if (auto ok = store->rewrap(std::move(*pass), *limits); !ok) return out.error(ok.error());
  out.note("the store's private key is now protected by your passphrase (Argon2id, opslimit " +
           std::to_string(limits->opslimit) + ", memlimit " + std::to_string(limits->memlimit >> 20) + " MiB)");
  return 0;
}

}  // namespace

const CommandSpec kSecretPassphraseCommand{
    .name = "secret passphrase",
    .summary = "Protect the secret store with a passphrase, change it, or remove it",
    .usage = "sbx secret passphrase [--kdf PRESET] [--remove]",
    .description =
        "Re-wraps the store's private key. By default a new store keeps its private key wrapped\n"
        "by a random key in wrap.key, readable only by you: anything running as your user can\n"
        "read both files. With a passphrase, the wrapping key is derived with Argon2id from a\n"
        "passphrase that is never stored, and wrap.key is deleted: a copy of the store directory\n"
        "is useless without the passphrase. Reading secrets (the egress proxy, 'import') then asks\n"
        "for it; adding them ('set') never does, since it needs only the public key.\n"
        "\n"
        "The current passphrase (if any) is asked first, then the new one twice, on the terminal\n"
        "with echo off. Secrets are not re-encrypted: only store.key changes, atomically.\n"
        "\n"
        "--kdf picks the Argon2id cost: interactive (64 MiB), moderate (256 MiB, the default) or\n"
        "sensitive (1 GiB); the parameters are recorded in store.key.\n"
        "\n"
        "For scripts and tests, the new passphrase can come from the file descriptor named by\n"
        "SBX_SECRET_NEW_PASSPHRASE_FD (one line, asked once), the current one from\n"
        "SBX_SECRET_PASSPHRASE_FD.\n"
        "EXIT STATUS\n"
        "0  done;  1  wrong current passphrase, mismatch, or the store cannot be written;\n"
        "2  usage error\n"
        SBX_SECRET_HELP_FILES
        "EXAMPLES\n"
        "sbx secret passphrase\n"
        "sbx secret passphrase --remove",
    .options = {{"kdf", 0, "PRESET", "Argon2id cost: interactive, moderate (default) or sensitive."},
                {"remove", 0, "", "Go back to key-file mode (wrap.key) and stop asking for a passphrase."}},
    .min_positionals = 0,
    .max_positionals = 0,
    .run = run_secret_passphrase,
};

}  // namespace sbx::cli
