#include "vmm/accel.h"

#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <filesystem>

namespace sbx::vmm {

HostProbe probe_host() {
  HostProbe p;
  std::error_code ec;
  p.kvm_device_exists = std::filesystem::exists("/dev/kvm", ec);
  if (p.kvm_device_exists) {
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      p.kvm_device_usable = ::ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
      ::close(fd);
    }
  }
  p.pvm_hypervisor = std::filesystem::exists("/sys/module/kvm_pvm", ec);
  if (const char* f = std::getenv("SBX_ACCEL"); f) p.forced = f;
  return p;
}

AccelChoice choose_accel(const HostProbe& p) {
  static constexpr const char* kCost =
      "; guests run under software emulation (TCG), boot takes seconds and CPU-heavy work is ~10-50x slower";
  if (p.forced == "tcg") return {Accel::tcg, ""};  // asked for explicitly: no warning
  if (p.forced == "kvm") return {Accel::kvm, ""};
  if (!p.kvm_device_exists) return {Accel::tcg, std::string("no /dev/kvm on this host") + kCost};
  if (!p.kvm_device_usable)
    return {Accel::tcg, std::string("/dev/kvm cannot be opened read-write (add yourself to group kvm)") + kCost};
  if (p.pvm_hypervisor)
    return {Accel::tcg,
            std::string("/dev/kvm is a PVM hypervisor (kvm_pvm), which cannot run a stock guest kernel") + kCost};
  return {Accel::kvm, ""};
}

AccelChoice host_accel() { return choose_accel(probe_host()); }

const char* accel_name(Accel a) { return a == Accel::kvm ? "kvm" : "tcg"; }

unsigned long host_cpu_khz() {
  // cpufreq's base frequency is the TSC rate on most hosts; /proc/cpuinfo "cpu MHz" otherwise.
  for (const char* f : {"/sys/devices/system/cpu/cpu0/cpufreq/base_frequency",
                        "/sys/devices/system/cpu/cpu0/tsc_freq_khz"}) {
    std::ifstream in(f);
    unsigned long khz = 0;
    if (in >> khz && khz > 0) return khz;
  }
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const double mhz = std::strtod(line.c_str() + colon + 1, nullptr);
    if (mhz > 0) return static_cast<unsigned long>(mhz * 1000.0);
  }
  return 0;
}

}  // namespace sbx::vmm
