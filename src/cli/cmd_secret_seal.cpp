// sbx secret seal --public-key KEY NAME: seal a value for someone else's store (no store needed).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cmd_secret_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "secrets/blob.h"
#include "secrets/input.h"
#include "secrets/names.h"

namespace sbx::cli {
namespace {

// KEY, or "@FILE" for a file holding it (as saved from show-public-key).
Result<std::string> public_key_argument(const std::string& arg) {
  if (!arg.starts_with("@")) return secrets::decode_public_key(arg);
  std::ifstream in(arg.substr(1));
  if (!in) return fail(ErrorCode::not_found, "cannot read public key file " + arg.substr(1), "check the path after '@'");
  std::stringstream text;
  text << in.rdbuf();
  return secrets::decode_public_key(text.str());
}

Result<void> write_output(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    std::cout.flush();
    return {};
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail(ErrorCode::io, "cannot write " + path + ": " + std::strerror(errno), "check the --output path");
  const ssize_t n = ::write(fd, text.data(), text.size());
  const bool ok = n == static_cast<ssize_t>(text.size()) && ::close(fd) == 0;
  if (!ok) return fail(ErrorCode::io, "cannot write " + path + ": " + std::strerror(errno), "check free space");
  return {};
}

int run_secret_seal(const Args& args) {
  const Output out = Output::for_args(args);
  const std::string& name = args.positionals.front();
  if (auto ok = secrets::validate_name(name); !ok) return out.error(ok.error());
  const auto key_arg = args.value("public-key");
  if (!key_arg)
    return out.error(make_error(ErrorCode::usage, "missing --public-key KEY",
                             "ask the store owner for the output of 'sbx secret show-public-key'"));
  auto public_key = public_key_argument(*key_arg);
  if (!public_key) return out.error(public_key.error());
  if (auto ok = secret_cmd::prepare(); !ok) return out.error(ok.error());
  auto value = secrets::read_value(name, args.value("from-file").value_or(""));
  if (!value) return out.error(value.error());
  auto box = secrets::seal_for(*public_key, name, *value);
  if (!box) return out.error(box.error());
  const std::string blob = secrets::encode_blob({name, *public_key, *box});
  if (auto ok = write_output(args.value("output").value_or(""), blob); !ok) return out.error(ok.error());
  out.note("sealed secret '" + name + "'; only the holder of that store can open it ('sbx secret import')");
  return 0;
}

}  // namespace

const CommandSpec kSecretSealCommand{
    .name = "secret seal",
    .summary = "Seal a secret for another store (for 'sbx secret import' there)",
    .usage = "sbx secret seal --public-key KEY [--from-file PATH] [--output FILE] NAME",
    .description =
        "Encrypts a value so that only the owner of the store whose public key is KEY can open it\n"
        "(libsodium crypto_box_seal to that X25519 key), and prints the result as one line of\n"
        "text. Nobody else, including you once the command ends, can decrypt it. NAME is sealed\n"
        "inside with the value, so a blob renamed on the way is refused at import.\n"
        "\n"
        "No local store is needed: a CI job or a teammate can provision secrets to a developer\n"
        "without ever holding the developer's store. The value is read like 'sbx secret set':\n"
        "--from-file, else a hidden prompt on a terminal, else stdin minus one trailing newline.\n"
        "\n"
        "KEY is the line printed by 'sbx secret show-public-key', or @FILE for a file holding it.\n"
        "EXIT STATUS\n"
        "0  sealed;  1  bad key, empty value or unwritable output;  2  usage error\n"
        "OUTPUT\n"
        "One line 'sbx-sealed-secret-v1:<base64>' on stdout, or in FILE with --output.\n"
        "EXAMPLES\n"
        "printf %s \"$TOKEN\" | sbx secret seal --public-key @alice.pub NPM_TOKEN > npm.sealed\n"
        "# alice then runs: sbx secret import npm.sealed",
    .options = {{"public-key", 'k', "KEY", "The recipient store's public key (base64), or @FILE."},
                {"from-file", 'f', "PATH", "Read the value from PATH (exact bytes) instead of stdin."},
                {"output", 'o', "FILE", "Write the sealed blob to FILE instead of stdout."}},
    .min_positionals = 1,
    .max_positionals = 1,
    .run = run_secret_seal,
};

}  // namespace sbx::cli
