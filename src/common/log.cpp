#include "common/log.h"

#include <cstdlib>
#include <mutex>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace sbx::log {
namespace {
std::mutex g_mutex;
spdlog::level::level_enum g_level = spdlog::level::warn;
}  // namespace

std::shared_ptr<spdlog::logger> get(std::string_view component) {
  std::lock_guard lock(g_mutex);
  const std::string name(component);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_pattern("%^sbx[%n] %l:%$ %v");
  logger->set_level(g_level);
  return logger;
}

void init(std::string_view fallback) {
  const char* env = std::getenv("SBX_LOG");
  const std::string level_name = env && *env ? env : std::string(fallback);
  std::lock_guard lock(g_mutex);
  g_level = spdlog::level::from_str(level_name);
  spdlog::set_level(g_level);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->set_level(g_level); });
}

}  // namespace sbx::log
