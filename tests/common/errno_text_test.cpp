#include <catch2/catch.hpp>

#include <cerrno>
#include <string>

#include "common/errno_text.h"

TEST_CASE("errno_text spells an errno value the way strerror does", "[common]") {
  CHECK(sbx::errno_text(ENOENT) == "No such file or directory");
  errno = EACCES;
  const std::string text = sbx::errno_text();
  CHECK(text == "Permission denied");
}
