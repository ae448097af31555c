#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <unistd.h>

#include "support/temp_dir.h"
#include "vmm/qemu_vmm.h"

using namespace sbx::vmm;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using sbx::test::TempDir;

namespace {

fs::path guest_kernel() {
  for (const auto& e : fs::directory_iterator("/var/lib/sbx/kernel/current/boot"))
    if (e.path().filename().string().starts_with("vmlinuz-")) return e.path();
  return {};
}

MachineSpec bare_machine(const fs::path& dir) {
  MachineSpec s;
  s.name = "vmm-test";
  s.kernel = guest_kernel();
  s.runtime_dir = dir;
  s.console_log = dir / "console.log";
  s.memory_bytes = 128ull << 20;
  return s;
}

}  // namespace

TEST_CASE("QemuVmm starts QEMU, answers query-status over QMP and quits on kill", "[vmm]") {
  TempDir dir;
  REQUIRE_FALSE(guest_kernel().empty());
  QemuOptions o;  // software emulation is enough to talk QMP
  QemuVmm vmm(o);
  auto started = vmm.start(bare_machine(dir.path()));
  REQUIRE(started.has_value());
  CHECK(vmm.pid() > 0);
  CHECK(vmm.accelerator() == "tcg");
  CHECK(vmm.log_file() == dir.path() / "qemu.log");
  auto running = vmm.try_reap();
  REQUIRE(running.has_value());     // not an error: the VMM runs
  CHECK_FALSE(running->has_value());
  auto st = vmm.status();
  REQUIRE(st.has_value());
  CHECK((*st == "running" || *st == "prelaunch"));
  vmm.kill();
  auto e = vmm.try_reap();
  REQUIRE(e.has_value());
  REQUIRE(e->has_value());          // it ended, and says how
  CHECK(::kill(vmm.pid(), 0) != 0);
}

TEST_CASE("try_reap before a machine was started is an error, not a running VMM", "[vmm]") {
  QemuVmm vmm(QemuOptions{});
  auto r = vmm.try_reap();
  CHECK_FALSE(r.has_value());
}

TEST_CASE("the backend for this host uses the accelerator host_accel() chooses", "[vmm]") {
  std::string warning;
  auto vmm = make_vmm(&warning);
  REQUIRE(vmm);
  const AccelChoice choice = host_accel();
  CHECK(vmm->accelerator() == accel_name(choice.accel));
  CHECK(warning == choice.warning);
}

TEST_CASE("a guest kernel panic ends the VMM and leaves the panic in the console log", "[vmm]") {
  TempDir dir;
  QemuOptions o;
  o.host_khz = host_cpu_khz();
  QemuVmm vmm(o);
  MachineSpec s = bare_machine(dir.path());
  s.cmdline = "root=/dev/nonexistent";  // no initramfs, no root: the kernel panics at once
  REQUIRE(vmm.start(s).has_value());
  auto e = vmm.wait(60s);
  REQUIRE(e.has_value());
  CHECK_FALSE(e->signaled);
  CHECK(tail_file(s.console_log, 40).find("Kernel panic") != std::string::npos);
}

TEST_CASE("a missing QEMU binary is reported with a hint", "[vmm]") {
  TempDir dir;
  QemuOptions o;
  o.binary = "/nonexistent/qemu-system-x86_64";
  QemuVmm vmm(o);
  auto r = vmm.start(bare_machine(dir.path()));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("cannot run") != std::string::npos);
  CHECK_FALSE(r.error().hint.empty());
}

TEST_CASE("tail_file returns the last lines as they are, without the serial line's CR", "[vmm]") {
  TempDir dir;
  const fs::path f = dir.path() / "log";
  {
    std::FILE* out = std::fopen(f.c_str(), "w");
    std::fputs("one\r\ntwo\r\nthr\x1b[31mee\r\nfour\r\n", out);
    std::fclose(out);
  }
  CHECK(tail_file(f, 2) == "thr\x1b[31mee\nfour\n");  // escaping is the display's job
  CHECK(tail_file(dir.path() / "absent", 3).empty());
}
