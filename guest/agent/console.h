#pragma once
// Boot progress and diagnostics on the kernel console (ttyS0 -> the VMM's console log).
#include <cstdint>
#include <string_view>

namespace sbx::guest::agent {

/// Milliseconds since the kernel booted (CLOCK_BOOTTIME).
std::int64_t uptime_ms();
/// Print "sbx-guest [  1.234] <message>" on the console (stderr).
void say(std::string_view message);

}  // namespace sbx::guest::agent
