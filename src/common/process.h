#pragma once
// Whether a process id still names a live process.

namespace sbx::process {

/// True when `pid` exists and is not a zombie (exited, not yet reaped: it holds nothing any more).
/// A process of another user counts when it exists. Takes a long so that a pid read from a file
/// is never truncated onto another process: pid <= 0 or beyond pid_t never names one.
bool alive(long pid);

}  // namespace sbx::process
