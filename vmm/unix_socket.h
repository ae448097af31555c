#pragma once
// Unix stream sockets addressed by (directory, name), so paths longer than sun_path still work
// (the directory is reached through /proc/self/fd/N).
#include <chrono>
#include <filesystem>
#include <string_view>

#include "common/error.h"
#include "common/fd.h"

namespace sbx::vmm {

/// The common owned descriptor under its old name, for the callers outside vmm/ that still spell
/// it Fd (src/supervisor, src/cli); inside sbx::vmm a plain `Fd` is sbx::Fd already.
using Fd = sbx::Fd;

/// Connect to the Unix socket `path` (any length); an `io` error when it refuses or is absent.
Result<Fd> connect_unix(const std::filesystem::path& path);

/// Keep trying connect_unix until it works or `timeout` passes (a server still starting).
Result<Fd> connect_unix_retry(const std::filesystem::path& path, std::chrono::milliseconds timeout);

/// Bind and listen on `path` (replacing a stale socket), mode 0600.
Result<Fd> listen_unix(const std::filesystem::path& path);

/// Write all of `data`, retrying on EINTR/partial writes; false on error.
bool write_all(int fd, std::string_view data);

/// Wait for `fd` to be readable for up to `timeout`; false on timeout.
bool wait_readable(int fd, std::chrono::milliseconds timeout);

}  // namespace sbx::vmm
