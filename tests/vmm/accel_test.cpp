#include <catch2/catch.hpp>
#include <filesystem>

#include "vmm/accel.h"

using namespace sbx::vmm;

TEST_CASE("a usable /dev/kvm on a normal host gives hardware acceleration without a warning", "[vmm]") {
  const auto c = choose_accel({.kvm_device_exists = true, .kvm_device_usable = true});
  CHECK(c.accel == Accel::kvm);
  CHECK(c.warning.empty());
}

TEST_CASE("a PVM host falls back to software emulation and says why and what it costs", "[vmm]") {
  const auto c = choose_accel({.kvm_device_exists = true, .kvm_device_usable = true, .pvm_hypervisor = true});
  CHECK(c.accel == Accel::tcg);
  CHECK(c.warning.find("PVM") != std::string::npos);
  CHECK(c.warning.find("slower") != std::string::npos);
  CHECK(c.warning.find('\n') == std::string::npos);
}

TEST_CASE("a missing or unusable /dev/kvm falls back to software emulation with a reason", "[vmm]") {
  const auto missing = choose_accel({});
  CHECK(missing.accel == Accel::tcg);
  CHECK(missing.warning.find("no /dev/kvm") != std::string::npos);
  const auto denied = choose_accel({.kvm_device_exists = true});
  CHECK(denied.accel == Accel::tcg);
  CHECK(denied.warning.find("read-write") != std::string::npos);
}

TEST_CASE("SBX_ACCEL forces the accelerator silently", "[vmm]") {
  CHECK(choose_accel({.kvm_device_exists = true, .kvm_device_usable = true, .forced = "tcg"}).accel == Accel::tcg);
  const auto forced = choose_accel({.pvm_hypervisor = true, .forced = "kvm"});
  CHECK(forced.accel == Accel::kvm);
  CHECK(forced.warning.empty());
}

TEST_CASE("this host's probe matches what /sys and /dev say", "[vmm]") {
  const HostProbe p = probe_host();
  CHECK(p.pvm_hypervisor == std::filesystem::exists("/sys/module/kvm_pvm"));
  CHECK(p.kvm_device_exists == std::filesystem::exists("/dev/kvm"));
  CHECK(host_cpu_khz() > 100000);  // every x86-64 host runs above 100 MHz
}
