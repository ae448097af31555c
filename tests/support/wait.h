#pragma once
// Waiting for a condition instead of sleeping for a guessed time.
#include <chrono>
#include <functional>

namespace sbx::test {

/// Evaluate `condition` every `step` until it holds (true) or `limit` has passed (false).
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds limit,
                std::chrono::milliseconds step = std::chrono::milliseconds(20));

}  // namespace sbx::test
