#pragma once
// How commands report: human text and errors on stderr, results and --json on stdout.
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/error.h"

namespace sbx::cli {

/// Print an error for a person on stderr and return its exit code.
int report(const Error& error);

/// The JSON form of an error: {"ok":false,"error":{message,location,hint,details:[...]}}.
nlohmann::json error_json(const Error& error);

/// Print an error as JSON on stdout (for --json callers) and return its exit code.
int report_json(const Error& error);

/// Print a JSON document on stdout, one line, newline-terminated.
void print_json(const nlohmann::json& doc);

/// True when stderr is a terminal (for progress bars and colour).
bool stderr_is_tty();

}  // namespace sbx::cli
