#include "cli/command_table.h"

#include <vector>

#include "cli/commands.h"

namespace sbx::cli {

std::span<const CommandSpec* const> command_table() {
  // One line per command; keep related commands together.
  static const std::vector<const CommandSpec*> commands = {
      &kUpCommand, &kExecCommand, &kShellCommand, &kStatusCommand, &kLogsCommand, &kDownCommand,
      &kSuperviseCommand,
      &kEgressProcessCommand,
      &kSecretSetCommand, &kSecretLsCommand, &kSecretRmCommand, &kSecretShowPublicKeyCommand,
      &kImageLsCommand, &kImageRmCommand, &kImagePruneCommand,
      &kSecretSealCommand, &kSecretImportCommand, &kSecretPassphraseCommand,
      &kInitCommand, &kValidateCommand, &kPlanCommand,
      &kProxyCommand, &kEgressSuggestCommand,
  };
  return commands;
}

}  // namespace sbx::cli
