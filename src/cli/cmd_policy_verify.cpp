// sbx policy verify FILE [--key PUB]: whether FILE.sig is a valid signature of FILE by a trusted key.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "policy/discovery.h"
#include "policy/loader.h"
#include "policy/signature.h"

namespace sbx::cli {
namespace {

int run_policy_verify(const Args& args) {
  const Output out = Output::for_args(args);
  const std::string file = args.positionals.front();
  std::vector<policy::PublicKey> keys;
  for (const std::string& k : args.all("key")) {
    auto text = policy::read_policy_text(k);
    if (!text) return out.error(text.error());
    auto key = policy::parse_public_key(*text, k);
    if (!key) return out.error(key.error());
    keys.push_back(std::move(*key));
  }
  if (keys.empty()) {
    auto trusted = policy::load_trusted_keys(policy::trusted_keys_dir());
    if (!trusted) return out.error(trusted.error());
    keys = std::move(*trusted);
    if (keys.empty())
      return out.error(make_error(ErrorCode::not_found, "no trusted policy keys in " + policy::trusted_keys_dir().string(),
                                  "pass the public key with --key PUB, or install it there"));
  }
  auto text = policy::read_policy_text(file);
  if (!text) return out.error(text.error());
  auto sig = policy::read_policy_text(policy::signature_path(file));
  if (!sig) return out.error(make_error(ErrorCode::not_found, file + " has no signature (" + policy::signature_path(file).string() + ")",
                                        "sign it with 'sbx policy sign " + file + " --key KEY'"));
  auto signer = policy::verify_policy(*text, *sig, keys);
  if (!signer) return out.error(make_error(signer.error().code, file + ": " + signer.error().message, signer.error().hint));
  if (out.json()) out.result({{"ok", true}, {"file", file}, {"signed_by", *signer}});
  else std::cout << file << ": good signature by key " << *signer << "\n";
  return 0;
}

}  // namespace

const CommandSpec kPolicyVerifyCommand{
    .name = "policy verify",
    .summary = "Check a policy file's signature",
    .usage = "sbx policy verify [OPTIONS] FILE",
    .description =
        "Checks that FILE.sig is a valid Ed25519 signature of FILE's exact bytes by one of the given\n"
        "public keys (--key, repeatable), or by default by a key in the trusted keys directory\n"
        "($SBX_SYSTEM_CONFIG_DIR/trusted-keys.d, default /etc/sbx/trusted-keys.d).\n"
        "\n"
        "EXIT STATUS\n"
        "    0  the signature is good\n"
        "    1  it is missing, malformed, by an untrusted key, or does not match the file\n"
        "    2  usage error\n",
    .options = {{"key", 0, "PUB", "A public key file to trust (PREFIX.pub); repeatable.", true},
                {.long_name = "json", .help = "Print the result as one JSON object on stdout."}},
    .min_positionals = 1,
    .max_positionals = 1,
    .run = run_policy_verify,
};

}  // namespace sbx::cli
