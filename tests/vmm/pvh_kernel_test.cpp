#include <catch2/catch.hpp>
#include <filesystem>
#include <lz4.h>
#include <unistd.h>

#include "support/temp_dir.h"
#include "vmm/pvh_kernel.h"

using namespace sbx::vmm;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {
std::string le32(std::uint32_t n) {
  return {static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16), static_cast<char>(n >> 24)};
}

std::string legacy(std::initializer_list<std::string> blocks) {
  std::string s("\x02\x21\x4c\x18", 4);
  for (const auto& b : blocks) s += le32(static_cast<std::uint32_t>(b.size())) + b;
  return s;
}

// One LZ4 block as the reference compressor writes it (the kernel build uses the same library).
std::string compress(const std::string& data) {
  std::string out(static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(data.size()))), '\0');
  const int n = LZ4_compress_default(data.data(), out.data(), static_cast<int>(data.size()), static_cast<int>(out.size()));
  REQUIRE(n > 0);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string sample(std::size_t size) {
  std::string s;
  for (std::size_t i = 0; s.size() < size; ++i) s += "block " + std::to_string(i % 97) + std::string(i % 13, 'a');
  s.resize(size);
  return s;
}
}  // namespace

TEST_CASE("LZ4 legacy streams decode blocks, runs and concatenated streams", "[vmm]") {
  const std::string text = sample(100000);
  const std::string run(70000, 'a');  // offset-1 matches: an overlapping copy
  auto out = lz4_legacy_decompress(legacy({compress(text), compress(run)}));
  REQUIRE(out.has_value());
  CHECK(*out == text + run);
  // A second magic starts a concatenated stream; its blocks follow the first's output.
  auto two = lz4_legacy_decompress(legacy({compress("first ")}) + legacy({compress("second")}));
  REQUIRE(two.has_value());
  CHECK(*two == "first second");
}

TEST_CASE("LZ4 decoding stops at the kernel's size trailer and refuses corrupt blocks", "[vmm]") {
  std::string with_trailer = legacy({compress("abc")}) + le32(0x0fffffff);
  auto ok = lz4_legacy_decompress(with_trailer);
  REQUIRE(ok.has_value());
  CHECK(*ok == "abc");
  CHECK_FALSE(lz4_legacy_decompress("not lz4").has_value());
  CHECK_FALSE(lz4_legacy_decompress(legacy({})).has_value());                                  // no block at all
  CHECK_FALSE(lz4_legacy_decompress(legacy({std::string("\x0f\x05\x00", 3)})).has_value());    // offset past start
  CHECK_FALSE(lz4_legacy_decompress(legacy({std::string("\xf0\xff", 2)})).has_value());        // literal run past end
}

TEST_CASE("a truncated or corrupted LZ4 block fails with an error, not a crash", "[vmm][security]") {
  const std::string text = sample(200000);
  const std::string block = compress(text);
  REQUIRE(block.size() > 64);
  // Cut short: the block's size prefix says what is left, so the decoder sees a block ending early.
  for (std::size_t cut : {block.size() - 1, block.size() / 2, std::size_t{7}}) {
    auto r = lz4_legacy_decompress(legacy({block.substr(0, cut)}));
    CHECK_FALSE(r.has_value());
    if (!r) CHECK(r.error().message.find("corrupt LZ4 block") != std::string::npos);
  }
  // The first match's offset pointed before the start of the output.
  std::string bad = block;
  std::size_t at = 1;
  std::size_t literals = static_cast<unsigned char>(bad[0]) >> 4;
  if (literals == 15)
    do literals += static_cast<unsigned char>(bad[at]);
    while (static_cast<unsigned char>(bad[at++]) == 255);
  at += literals;
  REQUIRE(at + 2 < bad.size());
  bad[at] = bad[at + 1] = '\xff';
  auto r = lz4_legacy_decompress(legacy({bad}));
  CHECK_FALSE(r.has_value());
}

TEST_CASE("LZ4 output is bounded: a stream that unpacks past the limit fails cleanly", "[vmm][security]") {
  const std::string zeros(4u << 20, '\0');  // 4 MiB that compress to about 16 KiB
  const std::string block = compress(zeros);
  const std::string stream = legacy({block, block, block});
  auto all = lz4_legacy_decompress(stream);
  REQUIRE(all.has_value());
  CHECK(all->size() == 3 * zeros.size());
  auto capped = lz4_legacy_decompress(stream, 10u << 20);
  REQUIRE_FALSE(capped.has_value());
  CHECK(capped.error().message.find("more than 10 MiB") != std::string::npos);
  CHECK(lz4_legacy_decompress(stream, 12u << 20).has_value());  // exactly at the limit is fine
}

TEST_CASE("the guest kernel unpacks to a cached ELF vmlinux with a PVH entry", "[vmm]") {
  fs::path bz;
  for (const auto& e : fs::directory_iterator("/var/lib/sbx/kernel/current/boot"))
    if (e.path().filename().string().starts_with("vmlinuz-")) bz = e.path();
  REQUIRE_FALSE(bz.empty());
  const sbx::test::TempDir tmp("sbx-pvh-test");
  const fs::path& cache = tmp.path();
  auto first = pvh_kernel(bz, cache);
  REQUIRE(first.has_value());
  CHECK(fs::file_size(*first) > fs::file_size(bz));
  auto again = pvh_kernel(bz, cache);
  REQUIRE(again.has_value());
  CHECK(*again == *first);
}
