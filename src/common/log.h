#pragma once
// One named spdlog logger per component, all writing to stderr.
#include <memory>
#include <string_view>

#include <spdlog/logger.h>

namespace sbx::log {

/// The logger for a component ("config", "proxy", "vmm", ...), created on first use.
std::shared_ptr<spdlog::logger> get(std::string_view component);

/// Set the level of every logger: from SBX_LOG (trace/debug/info/warn/error/off), else `fallback`.
void init(std::string_view fallback = "warn");

}  // namespace sbx::log
