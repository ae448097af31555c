// Runs the channel fuzz target's body on seeded random mutations of valid traffic, so the
// parsers' robustness is checked on every build, not only in libFuzzer runs.
#include <catch2/catch.hpp>

#include <random>

#include "fuzz_channel.h"
#include "guest/protocol/frame.h"
#include "guest/protocol/messages.h"

namespace p = sbx::guest::protocol;

TEST_CASE("the channel parsers survive mutated traffic", "[guest][fuzz]") {
  p::Open o;
  o.argv = {"sh", "-c", "echo hi"};
  o.env = {{"A", "B"}};
  std::string seed = "\x07";
  p::encode_to(seed, p::hello_frame({}));
  p::encode_to(seed, p::config_frame({}));
  p::encode_to(seed, p::open_frame(1, o));
  p::encode_to(seed, p::data_frame(1, "input"));
  p::encode_to(seed, p::window_frame(1, 100));
  p::encode_to(seed, p::resize_frame(1, 10, 10));
  p::encode_to(seed, p::exit_frame(1, 0, 0));
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    std::string m = seed;
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % m.size();
      switch (rng() % 4) {
        case 0: m[at] = static_cast<char>(rng()); break;
        case 1: m.erase(at, 1 + rng() % 16); break;
        case 2: m.insert(at, std::string(1 + rng() % 8, static_cast<char>(rng()))); break;
        case 3: m = m.substr(0, at); break;
      }
      if (m.empty()) m = "\x01";
    }
    sbx::guest::test::fuzz_channel_input(reinterpret_cast<const std::uint8_t*>(m.data()), m.size());
  }
  SUCCEED("20000 mutated inputs parsed without a crash");
}
