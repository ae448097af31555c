#include <catch2/catch.hpp>
#include <filesystem>
#include <unistd.h>

#include "support/temp_dir.h"
#include "vmm/pvh_kernel.h"

using namespace sbx::vmm;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {
std::string legacy(std::initializer_list<std::string> blocks) {
  std::string s("\x02\x21\x4c\x18", 4);
  for (const auto& b : blocks) {
    const auto n = static_cast<std::uint32_t>(b.size());
    s += std::string{static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16), static_cast<char>(n >> 24)};
    s += b;
  }
  return s;
}
}  // namespace

TEST_CASE("LZ4 legacy streams decode literals and overlapping matches", "[vmm]") {
  // token 0x52: 5 literals "hello", match of 2+4=6 bytes at offset 5 -> "hellohello" + "h"; then
  // a last literal-only sequence "!".
  const std::string block = std::string("\x52hello\x05\x00", 8) + std::string("\x10!", 2);
  auto out = lz4_legacy_decompress(legacy({block}));
  REQUIRE(out.has_value());
  CHECK(*out == "hellohellohello!"s.substr(0, 11) + "!");
  // Offset 1 repeats one byte (run-length).
  auto run = lz4_legacy_decompress(legacy({std::string("\x1f" "a\x01\x00\x05", 5) + std::string("\x10.", 2)}));
  REQUIRE(run.has_value());
  CHECK(*run == std::string(1 + 15 + 5 + 4, 'a') + ".");
}

TEST_CASE("LZ4 decoding stops at the kernel's size trailer and refuses corrupt blocks", "[vmm]") {
  std::string with_trailer = legacy({std::string("\x30" "abc", 4)}) + std::string("\xff\xff\xff\x0f", 4);
  auto ok = lz4_legacy_decompress(with_trailer);
  REQUIRE(ok.has_value());
  CHECK(*ok == "abc");
  CHECK_FALSE(lz4_legacy_decompress("not lz4").has_value());
  CHECK_FALSE(lz4_legacy_decompress(legacy({std::string("\x0f\x05\x00", 3)})).has_value());    // offset past start
  CHECK_FALSE(lz4_legacy_decompress(legacy({std::string("\xf0\xff", 2)})).has_value());        // literal run past end
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
