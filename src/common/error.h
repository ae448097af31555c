#pragma once
// Errors a user can cause are values: Result<T> = std::expected<T, Error>.
// An Error says what was wrong (message), where (location), and how to fix it (hint).
// A validator that finds several problems returns one Error whose `details` hold each.
#include <expected>
#include <string>
#include <utility>
#include <vector>

namespace sbx {

/// A place in a user-visible file; line and column are 1-based, 0 when unknown.
struct Location {
  std::string file;
  int line = 0;
  int column = 0;

  bool known() const { return !file.empty(); }
  /// "file:line:col", "file:line", "file" or "" depending on what is known.
  std::string str() const;
};

/// Documented process exit codes.
enum class ExitCode : int { ok = 0, failed = 1, usage = 2 };

/// What kind of failure an Error is; decides the exit code and lets callers branch.
enum class ErrorCode {
  invalid,      // input (a file, a flag value) is wrong
  usage,        // the command line is wrong
  not_found,    // a file, sandbox, secret or image does not exist
  io,           // the OS refused (permissions, disk)
  conflict,     // would overwrite or race with something
  runtime,      // a child process, the VM or the network failed
  permission,   // modes, owners, policy forbid it
  cannot_start, // a program could not be started (exec failed: missing, not executable)
};

/// One problem: a message, where it is, and how to fix it.
struct Diagnostic {
  Location location;
  std::string message;
  std::string hint;
  /// The source line the location points into (for caret rendering), if known.
  std::string source_line;
};

/// The error value carried by Result<T>.
struct Error {
  ErrorCode code = ErrorCode::runtime;
  std::string message;
  Location location;
  std::string hint;
  /// Every problem found, for validators that report all of them at once.
  std::vector<Diagnostic> details;

  ExitCode exit_code() const { return code == ErrorCode::usage ? ExitCode::usage : ExitCode::failed; }
  /// Human rendering: "file:line:col: error: message" + caret lines + "hint: ...".
  std::string render() const;
};

template <class T>
using Result = std::expected<T, Error>;

/// An Error saying what was wrong, how to fix it and where (for code that needs the Error itself).
inline Error make_error(ErrorCode code, std::string message, std::string hint = {}, Location where = {}) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  e.location = std::move(where);
  e.hint = std::move(hint);
  return e;
}

/// Shorthand to build the unexpected side.
inline std::unexpected<Error> fail(ErrorCode code, std::string message, std::string hint = {},
                                   Location where = {}) {
  return std::unexpected<Error>(make_error(code, std::move(message), std::move(hint), std::move(where)));
}

/// Render one diagnostic compiler-style, with the source line and a caret under the column.
std::string render_diagnostic(const Diagnostic& d);

}  // namespace sbx

/// Propagate the error of an expression returning Result<T>, else yield its value.
/// Uses a GNU statement expression (g++ and clang both have it).
#define SBX_TRY(expr)                                                   \
  __extension__({                                                       \
    auto&& sbx_try_result_ = (expr);                                    \
    if (!sbx_try_result_) return std::unexpected(std::move(sbx_try_result_).error()); \
    std::move(sbx_try_result_).value();                                 \
  })

/// Like SBX_TRY for Result<void>.
#define SBX_TRY_VOID(expr)                                              \
  do {                                                                  \
    auto&& sbx_try_result_ = (expr);                                    \
    if (!sbx_try_result_) return std::unexpected(std::move(sbx_try_result_).error()); \
  } while (0)
