#include "common/errno_text.h"

#include <cstring>

namespace sbx {

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r: returns a pointer to the text, which may or may not be `buf`.
  return ::strerror_r(err, buf, sizeof buf);
}

}  // namespace sbx
