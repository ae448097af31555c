#include "vmm/qemu_argv.h"

#include <string_view>

namespace sbx::vmm {
namespace {

std::string path_for_qemu(const std::filesystem::path& p, const std::filesystem::path& runtime_dir) {
  if (!runtime_dir.empty()) {
    const auto rel = p.lexically_relative(runtime_dir);
    if (!rel.empty() && *rel.begin() != "..") return qemu_escape(rel.string());
  }
  return qemu_escape(p.string());
}

}  // namespace

std::string qemu_escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

std::string qemu_cmdline(const MachineSpec& spec, const QemuOptions& opts) {
  // console on the first serial port; microvm has no PCI; panic ends the VM (-no-reboot makes
  // the reboot an exit) so a panicked guest never hangs around.
  std::string c = "console=ttyS0 pci=off reboot=t panic=-1";
  if (opts.accel == Accel::tcg && opts.host_khz > 0)
    c += " tsc_early_khz=" + std::to_string(opts.host_khz);
  if (!spec.cmdline.empty()) c += " " + spec.cmdline;
  return c;
}

std::vector<std::string> qemu_argv(const MachineSpec& spec, const QemuOptions& opts) {
  const auto& rd = spec.runtime_dir;
  const std::uint64_t mib = (spec.memory_bytes + (1ull << 20) - 1) >> 20;
  std::vector<std::string> a = {opts.binary};
  auto add = [&a](std::initializer_list<std::string> words) { a.insert(a.end(), words); };

  add({"-name", qemu_escape("sbx-" + spec.name)});
  add({"-nodefaults", "-no-user-config", "-nographic", "-no-reboot"});
  if (opts.accel == Accel::kvm) {
    add({"-accel", "kvm", "-cpu", "host"});
  } else {
    // QEMU's default model (qemu64) has no SSE4, AVX or BMI: agent CLIs built for x86-64-v3 (Claude
    // Code's native binary) die with SIGILL on it. "max" is every feature TCG emulates (avx2 in 7.2).
    add({"-accel", "tcg,tb-size=" + std::to_string(opts.tb_size_mib), "-cpu", "max"});
  }
  // Guest RAM is a shared memfd so virtio-fs (vhost-user) can map it.
  add({"-object", "memory-backend-memfd,id=mem,size=" + std::to_string(mib) + "M,share=on"});
  add({"-M", "microvm,acpi=on,memory-backend=mem"});
  add({"-m", std::to_string(mib) + "M", "-smp", std::to_string(spec.cpus == 0 ? 1 : spec.cpus)});
  // microvm defaults to legacy virtio-mmio, which virtiofsd refuses.
  add({"-global", "virtio-mmio.force-legacy=false"});
  if (opts.seccomp) add({"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"});

  add({"-kernel", qemu_escape(spec.kernel.string())});
  if (!spec.initramfs.empty()) add({"-initrd", qemu_escape(spec.initramfs.string())});
  add({"-append", qemu_cmdline(spec, opts)});

  if (!spec.console_socket.empty())
    add({"-chardev", "socket,id=console,path=" + path_for_qemu(spec.console_socket, rd) + ",server=on,wait=off",
         "-serial", "chardev:console"});
  else
    add({"-chardev", "file,id=console,path=" + path_for_qemu(spec.console_log, rd), "-serial", "chardev:console"});
  add({"-chardev", "socket,id=qmp,path=" + qemu_escape(opts.qmp_socket) + ",server=on,wait=off",
       "-mon", "chardev=qmp,mode=control"});

  for (size_t i = 0; i < spec.disks.size(); ++i) {
    const auto& d = spec.disks[i];
    const std::string id = "disk" + std::to_string(i);
    // A write the host cannot store (its disk full) is an I/O error in the guest: QEMU's default
    // (werror=enospc) pauses the VM, and nothing here would ever resume it.
    add({"-drive", "id=" + id + ",if=none,format=raw,file=" + path_for_qemu(d.path, rd) +
                       (d.read_only ? ",readonly=on" : ",discard=unmap,werror=report"),
         "-device", "virtio-blk-device,drive=" + id + (d.serial.empty() ? "" : ",serial=" + qemu_escape(d.serial))});
  }
  if (!spec.channels.empty()) {
    add({"-device", "virtio-serial-device,id=vser0,max_ports=" + std::to_string(spec.channels.size() + 1)});
    for (size_t i = 0; i < spec.channels.size(); ++i) {
      const auto& c = spec.channels[i];
      const std::string id = "chan" + std::to_string(i);
      add({"-chardev", "socket,id=" + id + ",path=" + path_for_qemu(c.socket, rd) + ",server=on,wait=off",
           "-device", "virtserialport,bus=vser0.0,nr=" + std::to_string(i + 1) + ",chardev=" + id +
                          ",name=" + qemu_escape(c.name)});
    }
  }
  for (size_t i = 0; i < spec.shares.size(); ++i) {
    const auto& s = spec.shares[i];
    const std::string id = "fs" + std::to_string(i);
    add({"-chardev", "socket,id=" + id + ",path=" + path_for_qemu(s.socket, rd),
         "-device", "vhost-user-fs-device,chardev=" + id + ",tag=" + qemu_escape(s.tag)});
  }
  return a;
}

}  // namespace sbx::vmm
