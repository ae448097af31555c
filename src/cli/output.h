#pragma once
// How commands report: one Output per command, made from its parsed arguments. Human text
// ("sbx: ..." lines, progress, errors) goes to stderr; results and --json go to stdout. Every
// "sbx: " line is written here, so the prefix is in one place; callers escape guest text
// (text::escape_for_terminal) before passing it in.
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/error.h"
#include "image/progress.h"

namespace sbx::cli {

struct Args;

/// The reporter of one command run: human or --json.
class Output {
 public:
  /// A human Output (no --json).
  Output() = default;
  explicit Output(bool json) : json_(json) {}
  /// json when the command was given --json.
  static Output for_args(const Args& args);

  bool json() const { return json_; }

  /// "sbx: MSG" on stderr, then "  hint: HINT" when given; nothing with --json (stdout carries
  /// the result, and the same facts are in it).
  void note(std::string_view msg, std::string_view hint = {}) const;
  /// "sbx: warning: MSG" on stderr; nothing with --json.
  void warn(std::string_view msg) const;
  /// A progress line of a long step ("sbx: building root disk ..."); nothing with --json.
  void progress(std::string_view msg) const;
  /// progress() as a callback, for libraries that report human lines.
  std::function<void(std::string_view)> progress_lines() const;
  /// A sink for a library's byte progress (see ProgressView): a bar redrawn on a terminal,
  /// progress() lines at 25% steps otherwise; empty (nothing reported) with --json.
  image::ProgressSink meter() const;
  /// Draw "sbx: MSG" over the current stderr line (a progress bar); nothing with --json.
  void redraw(std::string_view msg) const;
  /// End the line redraw() drew on.
  void end_redraw() const;

  /// The one JSON result on stdout, one line, newline-terminated.
  void result(const nlohmann::json& doc) const;

  /// Report an error and return its exit code: "sbx: error: ..." with its hint on stderr, or
  /// with --json {"ok":false,"error":{...}} on stdout.
  int error(const Error& error) const;
  /// error(), except that a file with problems (an error with details) prints each of them
  /// compiler-style ("FILE:LINE:COL: error: ...", no "sbx: " prefix) for a person.
  int problems(const Error& error) const;

 private:
  bool json_ = false;
};

/// The JSON form of an error: {"ok":false,"error":{message,location,hint,details:[...]}}.
nlohmann::json error_json(const Error& error);

/// True when stderr is a terminal (for progress bars and colour).
bool stderr_is_tty();

}  // namespace sbx::cli
