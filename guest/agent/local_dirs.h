#pragma once
// A mount's `local` paths: directories of the sandbox disk bind-mounted over paths under a share,
// so dependency trees (node_modules, .venv, target) stay off the slow shared file system.
#include <string>

#include "guest/protocol/messages.h"

namespace sbx::guest::agent {

/// Where the disk keeps the local directories of the share mounted at `target`:
/// /run/rw/local/<16 hex digits of a hash of target>; stable across boots for one target.
std::string local_root_for(const std::string& target);

/// For each entry L of m.local: create /run/rw/local/<hash>/L on the sandbox disk (owned like the
/// share's target), create TARGET/L on the share when missing (as the target's owner, since guest
/// root has no identity on shares), and bind the disk directory over it (nosuid, nodev).
/// TARGET/L is resolved beneath TARGET with no symlink followed and no mount crossed: a link a
/// guest planted there is refused, never followed. Returns the errors, "" when all went well.
std::string mount_local_dirs(const protocol::MountSpec& m);

}  // namespace sbx::guest::agent
