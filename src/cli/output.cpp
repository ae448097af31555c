#include "cli/output.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/progress_view.h"

namespace sbx::cli {

namespace {
constexpr std::string_view kPrefix = "sbx: ";
}

Output Output::for_args(const Args& args) { return Output(args.flag("json")); }

void Output::note(std::string_view msg, std::string_view hint) const {
  if (json_) return;
  std::cerr << kPrefix << msg << '\n';
  if (!hint.empty()) std::cerr << "  hint: " << hint << '\n';
}

void Output::warn(std::string_view msg) const {
  if (json_) return;
  std::cerr << kPrefix << "warning: " << msg << '\n';
}

void Output::progress(std::string_view msg) const {
  if (json_) return;
  std::cerr << kPrefix << msg << '\n';
}

std::function<void(std::string_view)> Output::progress_lines() const {
  return [out = *this](std::string_view line) { out.progress(line); };
}

image::ProgressSink Output::meter() const {
  if (json_) return {};
  // Shared: the sink is copied into each ProgressMeter, the tasks' state must not be.
  auto view = std::make_shared<ProgressView>(*this, stderr_is_tty(), progress_lines());
  return [view](const image::ProgressEvent& e) { (*view)(e); };
}

void Output::redraw(std::string_view msg) const {
  if (json_) return;
  std::cerr << '\r' << kPrefix << msg << "\033[K";
  std::cerr.flush();
}

void Output::end_redraw() const {
  if (json_) return;
  std::cerr << '\n';
  std::cerr.flush();
}

void Output::result(const nlohmann::json& doc) const {
  // Results can carry text from the guest or the file system that is not UTF-8: replace such
  // bytes (U+FFFD) rather than throw and print nothing.
  std::cout << doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  std::cout.flush();
}

int Output::error(const Error& error) const {
  if (json_) {
    result(error_json(error));
  } else {
    std::cerr << kPrefix << error.render();
    std::cerr.flush();
  }
  return static_cast<int>(error.exit_code());
}

int Output::problems(const Error& error) const {
  if (json_ || error.details.empty()) return this->error(error);
  std::cerr << error.render();
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

bool stderr_is_tty() { return ::isatty(STDERR_FILENO) == 1; }

}  // namespace sbx::cli
