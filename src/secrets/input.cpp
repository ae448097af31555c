#include "secrets/input.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include "common/text.h"

namespace sbx::secrets {
namespace {

// The terminal state to restore if a signal arrives while echo is off.
int g_tty_fd = -1;
termios g_saved_termios{};
struct sigaction g_old_actions[4];
constexpr int kSignals[4] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

extern "C" void restore_tty_and_reraise(int sig) {
  if (g_tty_fd >= 0) ::tcsetattr(g_tty_fd, TCSAFLUSH, &g_saved_termios);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

Result<void> write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::io, std::string("cannot write to the terminal: ") + std::strerror(errno));
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Read up to the first newline (or EOF) from `fd`, one byte at a time so nothing past it is consumed.
Result<SecretBuffer> read_line(int fd, std::size_t max_size, std::string_view what) {
  SecretBuffer buf = SBX_TRY(SecretBuffer::allocate(max_size));
  std::size_t got = 0;
  while (true) {
    unsigned char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::io, "cannot read " + std::string(what) + ": " + std::strerror(errno));
    }
    if (n == 0 || c == '\n') break;
    if (got == max_size)
      return fail(ErrorCode::invalid, std::string(what) + " is longer than " + std::to_string(max_size) + " bytes");
    buf.data()[got++] = c;
  }
  if (got > 0 && buf.data()[got - 1] == '\r') --got;
  buf.truncate(got);
  return buf;
}

}  // namespace

Result<SecretBuffer> read_fd(int fd, std::size_t max_size, std::string_view what) {
  std::size_t cap = 4096;
  SecretBuffer buf = SBX_TRY(SecretBuffer::allocate(cap));
  std::size_t got = 0;
  while (true) {
    if (got == cap) {
      if (cap > max_size)
        return fail(ErrorCode::invalid, std::string(what) + " is larger than " + std::to_string(max_size) + " bytes",
                    "secrets are tokens and keys; store a smaller value");
      // Grow into new locked memory; the old buffer is wiped when it goes out of scope.
      SecretBuffer bigger = SBX_TRY(SecretBuffer::allocate(cap * 2));
      std::memcpy(bigger.data(), buf.data(), got);
      buf = std::move(bigger);
      cap *= 2;
    }
    const ssize_t n = ::read(fd, buf.data() + got, cap - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::io, "cannot read " + std::string(what) + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > max_size)
    return fail(ErrorCode::invalid, std::string(what) + " is larger than " + std::to_string(max_size) + " bytes",
                "secrets are tokens and keys; store a smaller value");
  buf.truncate(got);
  return buf;
}

Result<SecretBuffer> read_file(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(ErrorCode::not_found, "cannot open " + file.string() + ": " + std::strerror(errno), "check the path given to --from-file");
  auto r = read_fd(fd, kMaxValueSize, file.string());
  ::close(fd);
  return r;
}

Result<SecretBuffer> prompt_no_echo(std::string_view prompt, std::string_view no_tty_hint) {
  const int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return fail(ErrorCode::invalid, "no terminal to prompt on (" + std::string(std::strerror(errno)) + ")",
                std::string(no_tty_hint));
  termios saved{};
  if (::tcgetattr(fd, &saved) != 0) {
    ::close(fd);
    return fail(ErrorCode::io, std::string("cannot read the terminal settings: ") + std::strerror(errno));
  }
  termios quiet = saved;
  quiet.c_lflag &= static_cast<tcflag_t>(~(ECHO | ECHOE | ECHOK));
  quiet.c_lflag |= ECHONL | ICANON;
  g_tty_fd = fd;
  g_saved_termios = saved;
  struct sigaction sa {};
  sa.sa_handler = restore_tty_and_reraise;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 4; ++i) ::sigaction(kSignals[i], &sa, &g_old_actions[i]);
  Result<SecretBuffer> line = fail(ErrorCode::io, "cannot turn terminal echo off");
  if (::tcsetattr(fd, TCSAFLUSH, &quiet) == 0) {
    auto wrote = write_all(fd, prompt);
    line = wrote ? read_line(fd, kMaxValueSize, "the input") : Result<SecretBuffer>(std::unexpected(wrote.error()));
    ::tcsetattr(fd, TCSAFLUSH, &saved);
  }
  for (int i = 0; i < 4; ++i) ::sigaction(kSignals[i], &g_old_actions[i], nullptr);
  g_tty_fd = -1;
  ::close(fd);
  return line;
}

Result<SecretBuffer> read_value(std::string_view name, const std::filesystem::path& from_file) {
  SecretBuffer value;
  if (!from_file.empty()) {
    value = SBX_TRY(read_file(from_file));
  } else if (::isatty(STDIN_FILENO)) {
    value = SBX_TRY(prompt_no_echo("Value for secret '" + std::string(name) + "' (input hidden): ",
                                   "pipe the value on stdin, or use --from-file"));
  } else {
    value = SBX_TRY(read_fd(STDIN_FILENO, kMaxValueSize, "the value on stdin"));
    // `echo TOKEN | sbx secret set NAME` adds a newline that is not part of the token.
    std::size_t n = value.size();
    if (n > 0 && value.data()[n - 1] == '\n') {
      --n;
      if (n > 0 && value.data()[n - 1] == '\r') --n;
    }
    value.truncate(n);
  }
  if (value.empty())
    return fail(ErrorCode::invalid, "the value of secret '" + std::string(name) + "' is empty",
                "pipe the value on stdin (printf %s \"$TOKEN\" | sbx secret set NAME), type it at the prompt, or use --from-file");
  return value;
}

Result<SecretBuffer> read_passphrase(std::string_view fd_env, std::string_view prompt, bool confirm) {
  const std::string env_name(fd_env);
  if (const char* v = std::getenv(env_name.c_str()); v && *v) {
    const auto fd = text::parse_uint(v, 0, 1 << 20);
    if (!fd)
      return fail(ErrorCode::usage, env_name + " must be a file descriptor number", "e.g. " + env_name + "=3 sbx ... 3<passphrase-file");
    auto pass = read_line(static_cast<int>(*fd), 4096, "the passphrase from fd " + std::to_string(*fd) + " (" + env_name + ")");
    if (!pass) return pass;
    if (pass->empty()) return fail(ErrorCode::invalid, "the passphrase read from " + env_name + " is empty", "write the passphrase to that fd");
    return pass;
  }
  const std::string hint = "a passphrase is needed: run this on a terminal, or set " + env_name +
                           " to a file descriptor that holds it (e.g. " + env_name + "=3 ... 3<file)";
  SecretBuffer first = SBX_TRY(prompt_no_echo(prompt, hint));
  if (first.empty()) return fail(ErrorCode::invalid, "the passphrase is empty", "type a passphrase");
  if (confirm) {
    SecretBuffer again = SBX_TRY(prompt_no_echo("Repeat the passphrase: ", hint));
    if (!first.equals(again)) return fail(ErrorCode::invalid, "the two passphrases differ", "run the command again");
  }
  return first;
}

}  // namespace sbx::secrets
