#pragma once
// What the egress child enforces on top of the Sandboxfile: the ceilings and deny lists of the
// organisation's policies, found where the `sbx up` that applied the rules found them (launch.json
// `egress.policy_sources`), and a fingerprint of those files so the proxy reloads them on change.
#include <filesystem>
#include <functional>
#include <string>

#include "policy/discovery.h"
#include "proxy/limits.h"
#include "supervisor/launch.h"

namespace sbx::supervisor {

/// Where to look: what `launch` says, else this process's own environment (an older launch.json).
policy::Sources policy_sources(const Launch& launch);

/// The ceilings and deny lists of every policy in `sources`. A policy that cannot be read, parsed
/// or verified (a tampered system policy) makes the whole result broken, with why: the proxy then
/// refuses everything rather than run without a ceiling.
proxy::Limits load_limits(const policy::Sources& sources);

/// load_limits() for the sandbox in `dir` (its launch.json names the sources; unreadable: broken).
proxy::Limits load_sandbox_limits(const std::filesystem::path& dir);

/// A function summarising everything load_sandbox_limits(dir) reads; it changes when they do.
std::function<std::string()> limits_fingerprint(const std::filesystem::path& dir);

}  // namespace sbx::supervisor
