// Prints the median time from QEMU start to the guest's HELLO over N boots (default 5).
// Usage: guest_boot_bench [runs] [pvh]   (pvh: boot the unpacked vmlinux instead of the bzImage)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "guest/host/kernel.h"
#include "vmm/pvh_kernel.h"
#include "guest_vm.h"

int main(int argc, char** argv) {
  using namespace std::chrono;
  int runs = argc > 1 ? std::atoi(argv[1]) : 5;
  auto images = sbx::guest::test::build_images();
  if (argc > 2 && std::string(argv[2]) == "pvh") {
    auto kernel = sbx::guest::locate_kernel();
    auto vmlinux = kernel ? sbx::vmm::pvh_kernel(kernel->image, "/tmp/sbx-guest-test-cache") : std::unexpected(kernel.error());
    if (!vmlinux) return 1;
    images.kernel = *vmlinux;
  }
  std::vector<double> times;
  std::vector<std::string> qemu_argv;
  for (int i = 0; i < runs; ++i) {
    sbx::guest::test::GuestVm vm(images);
    if (!vm.connect(seconds(20))) return 1;
    auto hello = vm.handshake();
    if (!hello) {
      std::fprintf(stderr, "boot %d failed: %s\n%s\n", i, vm.last_error().c_str(), vm.console().c_str());
      return 1;
    }
    times.push_back(vm.hello_seconds());
    qemu_argv = vm.argv();
    std::printf("run %d: HELLO after %.3f s (guest uptime %lld ms, /init at %lld ms, modules %lld ms, rootfs %lld ms)\n",
                i + 1, vm.hello_seconds(), static_cast<long long>(hello->boot.uptime_ms),
                static_cast<long long>(hello->boot.init_ms), static_cast<long long>(hello->boot.modules_ms),
                static_cast<long long>(hello->boot.rootfs_ms));
    if (i == runs - 1) {
      // Exec round trip on the channel alone: OPEN true -> CLOSE, 50 times.
      sbx::guest::protocol::Open o;
      o.argv = {"true"};
      std::vector<double> rt;
      for (int k = 0; k < 50; ++k) {
        auto t0 = steady_clock::now();
        auto r = vm.exec(o);
        if (r.code != 0) return 1;
        rt.push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
      }
      std::sort(rt.begin(), rt.end());
      std::printf("exec round trip (OPEN true .. CLOSE, 50 runs): median %.1f ms, max %.1f ms\n", rt[rt.size() / 2],
                  rt.back());
    }
    vm.send(sbx::guest::protocol::shutdown_frame());
    vm.wait_exit(seconds(20));
  }
  std::sort(times.begin(), times.end());
  std::printf("median time from QEMU start to HELLO over %d boots: %.3f s\n", runs, times[times.size() / 2]);
  std::printf("qemu argv:");
  for (const auto& a : qemu_argv) std::printf(" %s", a.c_str());
  std::printf("\n");
  return 0;
}
