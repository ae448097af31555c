#pragma once
// Choosing the accelerator: hardware KVM where it can run a stock kernel, software emulation
// (TCG) otherwise, with one line saying why and what it costs.
#include <string>

namespace sbx::vmm {

enum class Accel { kvm, tcg };

/// What the host offers, gathered by probe_host() (or written by hand in tests).
struct HostProbe {
  bool kvm_device_exists = false;   // /dev/kvm is present
  bool kvm_device_usable = false;   // it opens read-write and KVM_GET_API_VERSION answers 12
  bool pvm_hypervisor = false;      // /sys/module/kvm_pvm exists: KVM runs only PVM-built guests
  std::string forced;               // $SBX_ACCEL ("kvm", "tcg" or "")
};

/// The accelerator to use and, for software emulation, the one-line reason.
struct AccelChoice {
  Accel accel = Accel::tcg;
  std::string warning;              // empty when hardware acceleration is used
};

/// Look at /dev/kvm, /sys/module/kvm_pvm and $SBX_ACCEL.
HostProbe probe_host();

/// Pure decision from a probe.
AccelChoice choose_accel(const HostProbe& probe);

/// The accelerator for this host: choose_accel(probe_host()). The one place that decides, for
/// the VMM backend and for what `sbx up` tells the user before it boots.
AccelChoice host_accel();

/// "kvm" or "tcg".
const char* accel_name(Accel a);

/// The host CPU frequency in kHz (for tsc_early_khz=), 0 when unknown.
unsigned long host_cpu_khz();

}  // namespace sbx::vmm
