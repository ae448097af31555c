#pragma once
// Loading a Sandboxfile from text in tests: the result, or a failed REQUIRE with the rendering.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <string_view>

#include "config/loader.h"

namespace sbx::config::test {

/// The project directory every test file is loaded for.
inline const std::filesystem::path kDir = "/home/u/My Project_2";

/// `text` loaded as "Sandboxfile" in kDir; REQUIREs that it loads.
inline Sandboxfile load_ok(std::string_view text) {
  auto r = load_string(text, "Sandboxfile", kDir);
  INFO((r ? std::string() : r.error().render()));
  REQUIRE(r.has_value());
  return *r;
}

/// The error of loading `text`; REQUIREs that it fails.
inline sbx::Error load_err(std::string_view text) {
  auto r = load_string(text, "Sandboxfile", kDir);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

}  // namespace sbx::config::test
