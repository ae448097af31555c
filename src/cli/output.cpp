#include "cli/output.h"

#include <cstdio>
#include <iostream>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace sbx::cli {

int report(const Error& error) {
  std::cerr << "sbx: " << error.render();
  std::cerr.flush();
  return static_cast<int>(error.exit_code());
}

nlohmann::json error_json(const Error& error) {
  auto location_json = [](const Location& l) {
    nlohmann::json j = nlohmann::json::object();
    if (l.known()) {
      j["file"] = l.file;
      j["line"] = l.line;
      j["column"] = l.column;
    }
    return j;
  };
  nlohmann::json details = nlohmann::json::array();
  for (const auto& d : error.details)
    details.push_back({{"message", d.message}, {"location", location_json(d.location)}, {"hint", d.hint}});
  return {{"ok", false},
          {"error",
           {{"message", error.message},
            {"location", location_json(error.location)},
            {"hint", error.hint},
            {"details", details}}}};
}

int report_json(const Error& error) {
  print_json(error_json(error));
  return static_cast<int>(error.exit_code());
}

void print_json(const nlohmann::json& doc) {
  std::cout << doc.dump() << '\n';
  std::cout.flush();
}

bool stderr_is_tty() { return ::isatty(STDERR_FILENO) == 1; }

}  // namespace sbx::cli
