#include "cli/command_table.h"

#include <vector>

#include "cli/commands.h"

namespace sbx::cli {

std::span<const CommandSpec* const> command_table() {
  // One line per group, in the order the help lists them; internal commands (__*) last, unlisted.
  static const std::vector<const CommandSpec*> commands = {
      &kUpCommand, &kExecCommand, &kCpCommand, &kShellCommand, &kStatusCommand, &kLogsCommand, &kDownCommand, &kRestartCommand, &kLsCommand, &kRmCommand, &kSaveCommand, &kPortsCommand,
      &kInitCommand, &kValidateCommand, &kPlanCommand, &kRenderKubernetesCommand,
      &kPolicyCheckCommand, &kPolicyLsCommand, &kPolicyValidateCommand,
      &kPolicyKeygenCommand, &kPolicySignCommand, &kPolicyVerifyCommand,
      &kImageLsCommand, &kImageRmCommand, &kImagePruneCommand,
      &kSecretSetCommand, &kSecretLsCommand, &kSecretRmCommand, &kSecretShowPublicKeyCommand,
      &kSecretSealCommand, &kSecretImportCommand, &kSecretPassphraseCommand,
      &kProxyCommand, &kEgressSuggestCommand,
      &kSuperviseCommand, &kEgressProcessCommand,
  };
  return commands;
}

}  // namespace sbx::cli
