#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <unistd.h>

#include "guest/host/kernel.h"
#include "guest/host/modules.h"

using namespace sbx::guest;

namespace {
std::size_t index_of(const std::vector<ModuleFile>& v, const std::string& name) {
  auto it = std::find_if(v.begin(), v.end(), [&](const ModuleFile& m) { return m.name == name; });
  return it == v.end() ? v.size() : static_cast<std::size_t>(it - v.begin());
}
}  // namespace

TEST_CASE("module order puts every dependency before its user", "[guest][modules]") {
  auto kernel = locate_kernel();
  if (!kernel) {
    WARN("no guest kernel here (" << kernel.error().message << "); run ./setup.sh");
    return;
  }
  auto order = resolve_modules(kernel->modules_dir, default_guest_modules());
  REQUIRE(order.has_value());
  for (const auto& m : *order) {
    auto info = read_modinfo(m.path);
    REQUIRE(info.has_value());
    CHECK(info->name == m.name);
    for (const auto& dep : info->depends) CHECK(index_of(*order, dep) < index_of(*order, m.name));
  }
  // The order DESIGN.md verified by hand.
  for (const char* name : {"virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "virtio_console", "fuse", "virtiofs",
                           "overlay"})
    CHECK(index_of(*order, name) < order->size());
  CHECK(index_of(*order, "virtio_ring") < index_of(*order, "virtio_mmio"));
  CHECK(index_of(*order, "fuse") < index_of(*order, "virtiofs"));
}

TEST_CASE("a missing module is an error that names it", "[guest][modules]") {
  auto kernel = locate_kernel();
  if (!kernel) return;
  auto order = resolve_modules(kernel->modules_dir, {"no_such_module_xyz"});
  REQUIRE_FALSE(order.has_value());
  CHECK(order.error().message.find("no_such_module_xyz") != std::string::npos);
}

TEST_CASE("modinfo parsing refuses files that are not ELF modules", "[guest][modules]") {
  CHECK_FALSE(parse_modinfo("", "empty.ko").has_value());
  CHECK_FALSE(parse_modinfo(std::string(100, '\0'), "zeros.ko").has_value());
  std::string fake = "\x7f" "ELF" + std::string(60, '\x02');
  CHECK_FALSE(parse_modinfo(fake, "fake.ko").has_value());
}

TEST_CASE("the kernel locator explains how to fix a missing kernel", "[guest][kernel]") {
  auto k = kernel_from_root("/nonexistent/sbx-kernel");
  REQUIRE_FALSE(k.has_value());
  CHECK(k.error().hint.find("setup.sh") != std::string::npos);
}

TEST_CASE("the vmlinux inside the kernel's LZ4 bzImage unpacks to an ELF of the recorded size", "[guest][kernel]") {
  auto kernel = locate_kernel();
  if (!kernel) return;
  auto tmp = std::filesystem::temp_directory_path() / ("sbx-vmlinux-" + std::to_string(::getpid()));
  auto vmlinux = extract_vmlinux(*kernel, tmp);
  REQUIRE(vmlinux.has_value());
  auto size = std::filesystem::file_size(*vmlinux);
  CHECK(size > 10u * 1024 * 1024);
  auto again = extract_vmlinux(*kernel, tmp);
  CHECK(*again == *vmlinux);
  std::filesystem::remove_all(tmp);
}

TEST_CASE("the LZ4 decoder refuses corrupt streams", "[guest][kernel]") {
  CHECK_FALSE(lz4_legacy_decompress("nope").has_value());
  std::string bad("\x02\x21\x4c\x18\x05\x00\x00\x00\xf0\x01\x02\x03\x04", 13);  // literal run past the end
  CHECK_FALSE(lz4_legacy_decompress(bad).has_value());
  // 1 literal 'a', then a match of offset 1 length 4+, then a final literal: "aaaaaab".
  auto out = lz4_legacy_decompress(std::string("\x02\x21\x4c\x18\x06\x00\x00\x00\x11" "a" "\x01\x00\x10" "b", 14));
  REQUIRE(out.has_value());
  CHECK(*out == "aaaaaab");
}
