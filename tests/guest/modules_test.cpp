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

