#include <algorithm>
#include <catch2/catch.hpp>

#include "vmm/qemu_argv.h"

using namespace sbx::vmm;

namespace {

MachineSpec sample_spec() {
  MachineSpec s;
  s.name = "demo";
  s.kernel = "/k/vmlinuz";
  s.initramfs = "/c/initrd.cpio";
  s.cmdline = "quiet sbx.ready=1";
  s.memory_bytes = 300ull << 20;
  s.cpus = 2;
  s.runtime_dir = "/state/demo";
  s.console_log = "/state/demo/console.log";
  s.disks = {{"/c/root.ext4", true}, {"/state/demo/scratch,1.img", false, "sbx-disk"}};
  s.channels = {{"sbx.ctl", "/state/demo/ctl.sock"}};
  s.shares = {{"work", "/state/demo/fs0.sock"}};
  return s;
}

// The value following `flag` at its n-th occurrence.
std::string after(const std::vector<std::string>& a, const std::string& flag, int nth = 0) {
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == flag && nth-- == 0) return a[i + 1];
  return "<absent>";
}

bool has(const std::vector<std::string>& a, const std::string& word) {
  return std::find(a.begin(), a.end(), word) != a.end();
}

}  // namespace

TEST_CASE("the QEMU argv describes a microvm with no default devices and no network", "[vmm]") {
  QemuOptions o;
  const auto a = qemu_argv(sample_spec(), o);
  CHECK(a[0] == "qemu-system-x86_64");
  CHECK(after(a, "-M") == "microvm,acpi=on,memory-backend=mem");
  CHECK(has(a, "-nodefaults"));
  CHECK(has(a, "-no-user-config"));
  CHECK(has(a, "-nographic"));
  CHECK(has(a, "-no-reboot"));
  CHECK(after(a, "-object") == "memory-backend-memfd,id=mem,size=300M,share=on");
  CHECK(after(a, "-m") == "300M");
  CHECK(after(a, "-smp") == "2");
  CHECK(after(a, "-global") == "virtio-mmio.force-legacy=false");
  for (const auto& w : a) {
    CHECK(w.find("virtio-net") == std::string::npos);
    CHECK(w.find("netdev") == std::string::npos);
  }
}

TEST_CASE("software emulation gets a small translation cache and the early TSC frequency", "[vmm]") {
  QemuOptions o;
  o.accel = Accel::tcg;
  o.host_khz = 2096001;
  const auto a = qemu_argv(sample_spec(), o);
  CHECK(after(a, "-accel") == "tcg,tb-size=16");
  CHECK(after(a, "-cpu") == "max");  // qemu64 lacks AVX2: agent binaries die with SIGILL
  const std::string append = after(a, "-append");
  CHECK(append.find("tsc_early_khz=2096001") != std::string::npos);
  CHECK(append.find("pci=off") != std::string::npos);
  CHECK(append.find("console=ttyS0") != std::string::npos);
  CHECK(append.find("panic=-1") != std::string::npos);
  CHECK(append.ends_with("quiet sbx.ready=1"));
}

TEST_CASE("hardware KVM uses the host CPU model and no TSC override", "[vmm]") {
  QemuOptions o;
  o.accel = Accel::kvm;
  o.host_khz = 2096001;
  const auto a = qemu_argv(sample_spec(), o);
  CHECK(after(a, "-accel") == "kvm");
  CHECK(after(a, "-cpu") == "host");
  CHECK(after(a, "-append").find("tsc_early_khz") == std::string::npos);
}

TEST_CASE("disks, channels and shares become virtio-mmio devices with relative socket paths", "[vmm]") {
  const auto a = qemu_argv(sample_spec(), QemuOptions{});
  CHECK(after(a, "-drive", 0) == "id=disk0,if=none,format=raw,file=/c/root.ext4,readonly=on");
  // A comma in a path is doubled so QEMU does not read it as an option separator.
  CHECK(after(a, "-drive", 1) == "id=disk1,if=none,format=raw,file=scratch,,1.img,discard=unmap,werror=report");
  CHECK(after(a, "-device", 0) == "virtio-blk-device,drive=disk0");
  CHECK(after(a, "-device", 1) == "virtio-blk-device,drive=disk1,serial=sbx-disk");
  CHECK(has(a, "virtio-serial-device,id=vser0,max_ports=2"));
  CHECK(has(a, "socket,id=chan0,path=ctl.sock,server=on,wait=off"));
  CHECK(has(a, "virtserialport,bus=vser0.0,nr=1,chardev=chan0,name=sbx.ctl"));
  CHECK(has(a, "socket,id=fs0,path=fs0.sock"));
  CHECK(has(a, "vhost-user-fs-device,chardev=fs0,tag=work"));
  CHECK(has(a, "file,id=console,path=console.log"));
  CHECK(after(a, "-serial") == "chardev:console");
  CHECK(has(a, "socket,id=qmp,path=qmp.sock,server=on,wait=off"));
  CHECK(after(a, "-mon") == "chardev=qmp,mode=control");
  CHECK(after(a, "-initrd") == "/c/initrd.cpio");
}

TEST_CASE("a machine without initramfs or channels gets no -initrd and no serial bus", "[vmm]") {
  MachineSpec s = sample_spec();
  s.initramfs.clear();
  s.channels.clear();
  const auto a = qemu_argv(s, QemuOptions{});
  CHECK_FALSE(has(a, "-initrd"));
  for (const auto& w : a) CHECK(w.find("virtio-serial") == std::string::npos);
}
