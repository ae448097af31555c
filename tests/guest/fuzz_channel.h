#pragma once
// The body of the channel fuzz target, callable from libFuzzer and from a unit test.
#include <cstddef>
#include <cstdint>

namespace sbx::guest::test {

/// Feed `data` to the frame decoder in input-chosen chunk sizes and parse every decoded
/// payload with the parser its type uses; must never crash, hang or grow without bound.
void fuzz_channel_input(const std::uint8_t* data, std::size_t size);

}  // namespace sbx::guest::test
