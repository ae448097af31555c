// libFuzzer entry point for the channel fuzz target (body in fuzz_channel.cpp).
#include <cstddef>
#include <cstdint>

#include "fuzz_channel.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sbx::guest::test::fuzz_channel_input(data, size);
  return 0;
}
