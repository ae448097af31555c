#pragma once
// Reading secret values and passphrases without argv: from stdin, a file, an inherited fd,
// or a terminal prompt with echo turned off (termios), straight into a SecretBuffer.
#include <filesystem>
#include <string_view>

#include "common/error.h"
#include "secrets/secret_buffer.h"

namespace sbx::secrets {

/// Largest secret value accepted, in bytes.
inline constexpr std::size_t kMaxValueSize = 1 << 20;

/// Read all of `fd` (up to `max_size`) into locked memory.
Result<SecretBuffer> read_fd(int fd, std::size_t max_size, std::string_view what);
/// Read a whole file (up to kMaxValueSize) into locked memory.
Result<SecretBuffer> read_file(const std::filesystem::path& file);
/// Prompt on /dev/tty with echo off and read one line (without its newline); `no_tty_hint` is
/// the hint of the error when there is no terminal.
Result<SecretBuffer> prompt_no_echo(std::string_view prompt, std::string_view no_tty_hint);
/// The value of a secret for `set`/`seal`: `from_file` when given (bytes exactly), else a
/// no-echo prompt when stdin is a terminal, else all of stdin minus one trailing newline.
/// An empty value is an `invalid` Error.
Result<SecretBuffer> read_value(std::string_view name, const std::filesystem::path& from_file);
/// A passphrase from the fd in environment variable `fd_env` (one line) when set, else a no-echo
/// prompt on /dev/tty; `confirm` asks twice on the terminal.
Result<SecretBuffer> read_passphrase(std::string_view fd_env, std::string_view prompt, bool confirm);

}  // namespace sbx::secrets
