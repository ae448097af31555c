#pragma once
// The qemu-system-x86_64 command line for a MachineSpec, built as an argv (never a shell string).
#include <string>
#include <vector>

#include "vmm/accel.h"
#include "vmm/vmm.h"

namespace sbx::vmm {

/// Backend settings that are not part of the machine itself.
struct QemuOptions {
  std::string binary = "qemu-system-x86_64";
  Accel accel = Accel::tcg;
  unsigned long host_khz = 0;     // appended as tsc_early_khz= under TCG (boot hangs otherwise)
  unsigned tb_size_mib = 16;      // TCG translation cache; QEMU's default costs ~23 MB more RSS
  std::string qmp_socket = "qmp.sock";  // relative to the runtime dir (QEMU's working directory)
  bool seccomp = true;            // -sandbox on: QEMU may not spawn, elevate or use obsolete calls
};

/// The guest kernel command line: the spec's plus console, PCI and timer settings.
std::string qemu_cmdline(const MachineSpec& spec, const QemuOptions& opts);

/// The full argv, argv[0] included. Paths under spec.runtime_dir become relative to it, since
/// QEMU runs there (Unix socket paths are limited to 107 bytes).
std::vector<std::string> qemu_argv(const MachineSpec& spec, const QemuOptions& opts);

/// Escape a value for QEMU's comma-separated option syntax (',' becomes ',,').
std::string qemu_escape(std::string_view value);

}  // namespace sbx::vmm
