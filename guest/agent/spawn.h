#pragma once
// Starting exec'd programs: user lookup, environment, pipes or a PTY, privilege drop.
#include <map>
#include <string>
#include <sys/types.h>

#include "guest/protocol/messages.h"

namespace sbx::guest::agent {

/// A /etc/passwd entry.
struct User {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home = "/";
  std::string shell = "/bin/sh";
};

/// Look a user up in /etc/passwd (parsed directly: a static binary has no NSS).
bool lookup_user(const std::string& name, User& out);

/// Resolve an OPEN's user: "name", "uid", "name:group" or "uid:gid" (an image's User). A
/// numeric uid without a passwd entry runs with gid 0 and home "/", as container runtimes do.
bool resolve_user(const std::string& spec, User& out, std::string& why);

/// A started process and the parent's ends of its stdio.
struct Spawned {
  pid_t pid = -1;
  int in_fd = -1;        // write: child's stdin (the PTY master in tty mode)
  int out_fd = -1;       // read: child's stdout (the PTY master in tty mode)
  int err_fd = -1;       // read: child's stderr (-1 in tty mode)
  std::string error;     // why it could not start (empty on success)
  int err = 0;           // errno for error, if any
};

/// In a child just forked from the agent: unblock every signal, restore every default handler
/// (the agent's own would otherwise be inherited) and start a session of its own.
void reset_forked_child();

/// Start `req` (exec or shell) with `base_env` below the request's env.
Spawned spawn(const protocol::Open& req, const std::map<std::string, std::string>& base_env);

}  // namespace sbx::guest::agent
