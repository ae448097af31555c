#pragma once
// The text of an errno value, for error messages ("cannot open x: No such file or directory").
#include <cerrno>
#include <string>

namespace sbx {

/// strerror(err) as a string, safe to call from several threads; `err` defaults to errno.
std::string errno_text(int err = errno);

}  // namespace sbx
