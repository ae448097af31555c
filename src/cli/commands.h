#pragma once
// One CommandSpec per subcommand, each defined in its own cmd_<name>.cpp.
#include "cli/args.h"

namespace sbx::cli {

// Add a declaration here and a line in command_table.cpp for each new command.
extern const CommandSpec kUpCommand;
extern const CommandSpec kExecCommand;
extern const CommandSpec kCpCommand;
extern const CommandSpec kSaveCommand;
extern const CommandSpec kShellCommand;
extern const CommandSpec kDownCommand;
extern const CommandSpec kLsCommand;
extern const CommandSpec kRmCommand;
extern const CommandSpec kPortsCommand;
extern const CommandSpec kRestartCommand;
extern const CommandSpec kStatusCommand;
extern const CommandSpec kLogsCommand;
extern const CommandSpec kSuperviseCommand;
extern const CommandSpec kEgressProcessCommand;
extern const CommandSpec kSecretSetCommand;
extern const CommandSpec kSecretLsCommand;
extern const CommandSpec kSecretRmCommand;
extern const CommandSpec kImageLsCommand;
extern const CommandSpec kImageRmCommand;
extern const CommandSpec kImagePruneCommand;
extern const CommandSpec kSecretShowPublicKeyCommand;
extern const CommandSpec kSecretSealCommand;
extern const CommandSpec kSecretImportCommand;
extern const CommandSpec kSecretPassphraseCommand;
extern const CommandSpec kValidateCommand;
extern const CommandSpec kPlanCommand;
extern const CommandSpec kInitCommand;
extern const CommandSpec kProxyCommand;
extern const CommandSpec kEgressSuggestCommand;
extern const CommandSpec kRenderKubernetesCommand;
extern const CommandSpec kPolicyCheckCommand;
extern const CommandSpec kPolicyLsCommand;
extern const CommandSpec kPolicyValidateCommand;
extern const CommandSpec kPolicyKeygenCommand;
extern const CommandSpec kPolicySignCommand;
extern const CommandSpec kPolicyVerifyCommand;

}  // namespace sbx::cli
