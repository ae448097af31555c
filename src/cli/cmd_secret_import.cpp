// sbx secret import FILE...: add blobs made by `sbx secret seal` to the store.
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cmd_secret_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "secrets/blob.h"

namespace sbx::cli {
namespace {

Result<std::string> read_text(const std::string& path) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::not_found, "cannot read " + path, "check the path of the sealed blob");
  text << in.rdbuf();
  return text.str();
}

Result<std::string> import_one(secrets::Store& store, const std::string& path) {
  const std::string source = path == "-" ? "stdin" : path;
  const std::string text = SBX_TRY(read_text(path));
  secrets::SealedBlob blob = SBX_TRY(secrets::decode_blob(text, source));
  if (blob.recipient != store.public_key())
    return fail(ErrorCode::invalid, source + ": sealed for another store, not for this one (" + store.fingerprint() + ")",
                "send the sender the output of 'sbx secret show-public-key' and ask for a new blob");
  SBX_TRY_VOID(store.import_sealed(blob.name, blob.box));
  return blob.name;
}

int run_secret_import(const Args& args) {
  const Output out = Output::for_args(args);
  if (auto ok = secret_cmd::prepare(); !ok) return out.error(ok.error());
  auto store = secret_cmd::open_store(false);
  if (!store) return out.error(store.error());
  int rc = 0;
  for (const auto& path : args.positionals) {
    auto name = import_one(*store, path);
    if (!name) {
      rc = out.error(name.error());
      continue;
    }
    out.note("imported secret '" + *name + "'");
  }
  return rc;
}

}  // namespace

const CommandSpec kSecretImportCommand{
    .name = "secret import",
    .summary = "Add sealed secrets made by 'sbx secret seal' to the store",
    .usage = "sbx secret import FILE...",
    .description =
        "Reads each FILE ('-' for stdin) holding a blob made by 'sbx secret seal' for this store's\n"
        "public key, checks it, and stores it under the name sealed inside it (replacing a secret\n"
        "of that name). The blob is opened once with the private key to verify it (so a passphrase\n"
        "may be asked), then stored as it came: the value is never re-encrypted or written\n"
        "anywhere in clear.\n"
        "\n"
        "Refused with a clear error: a blob sealed to another store, a damaged or truncated blob,\n"
        "and a blob whose outer name was changed (the name inside the sealed box wins).\n"
        "EXIT STATUS\n"
        "0  all imported;  1  a blob was refused or the store is unusable;  2  usage error\n"
        SBX_SECRET_HELP_FILES
        "EXAMPLES\n"
        "sbx secret import npm.sealed\n"
        "ssh ci-host cat sealed/NPM_TOKEN | sbx secret import -",
    .options = {},
    .min_positionals = 1,
    .max_positionals = kUnlimited,
    .run = run_secret_import,
};

}  // namespace sbx::cli
