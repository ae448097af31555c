// sbx_boot_bench: the figures of issue 3, median of --runs runs (default 5), in one run:
//   - `sbx up --detach` wall time to a ready guest (the CLI returns once the guest said READY);
//   - a bare QEMU boot of the same machine (same argv, kernel, initramfs, disk, shares) started
//     directly, to the guest agent's first bytes on the channel (/init's HELLO); and the ratio;
//   - `sbx exec -- true` round trip (20 per run);
//   - resident memory of the supervisor and of the VMM with the sandbox idle after the execs.
// Not a test: prints numbers. Uses a private state directory.
//
//   build-*/tests/bench/sbx_boot_bench [--runs 5] [--project examples/hello]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "supervisor/launch.h"
#include "vmm/qemu_vmm.h"
#include "vmm/unix_socket.h"

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

std::string g_state;

// Run sbx quietly; returns the exit status.
int run_sbx(const std::vector<std::string>& args, std::string* out = nullptr) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("SBX_STATE_DIR", g_state.c_str(), 1);
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(pipefd[1], 1);
    ::dup2(devnull, 2);
    ::close(pipefd[0]);
    std::vector<char*> argv{const_cast<char*>(SBX_BENCH_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(SBX_BENCH_BINARY, argv.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0)
    if (out) out->append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double ms_since(steady_clock::time_point t) { return duration<double, std::milli>(steady_clock::now() - t).count(); }

long rss_kib(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return 0;
}

// Boot the launch's machine with QEMU directly and time it to the first byte on the channel.
double bare_boot_ms(const sbx::supervisor::Launch& launch, const std::string& kernel = {}) {
  char tmpl[] = "/tmp/sbx-bare-XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  sbx::vmm::MachineSpec m = launch.machine;
  if (!kernel.empty()) m.kernel = kernel;
  m.runtime_dir = dir;
  m.console_log = dir / "console.log";
  for (auto& c : m.channels) c.socket = dir / c.socket.filename();
  for (auto& s : m.shares) s.socket = dir / s.socket.filename();
  auto vmm = sbx::vmm::make_qemu_vmm(nullptr);
  const auto t0 = steady_clock::now();
  double result = -1;
  if (vmm->start(m)) {
    auto chan = sbx::vmm::connect_unix_retry(m.channels.at(0).socket, seconds(5));
    if (chan && sbx::vmm::wait_readable(chan->get(), seconds(120))) result = ms_since(t0);
  }
  vmm->kill();
  fs::remove_all(dir);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  std::string other_kernel;  // --bare-kernel: also time bare boots of another kernel (e.g. a vmlinux for PVH)
  std::string project = std::string(SBX_BENCH_SOURCE_DIR) + "/examples/hello";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--project") project = argv[i + 1];
    if (std::string(argv[i]) == "--bare-kernel") other_kernel = argv[i + 1];
  }
  char tmpl[] = "/tmp/sbx-bench-XXXXXX";
  g_state = ::mkdtemp(tmpl);
  // Warm the artifact cache (initramfs, root disk) outside the timed runs.
  if (run_sbx({"up", "--detach", project}) != 0 || run_sbx({"down", "--all"}) != 0) {
    std::cerr << "sbx up failed; run it by hand to see why\n";
    return 1;
  }
  std::vector<double> other_ms;
  std::vector<double> up_ms, bare_ms, exec_ms, sup_rss, vmm_rss, guest_ready;
  for (int r = 0; r < runs; ++r) {
    auto t0 = steady_clock::now();
    if (run_sbx({"up", "--detach", project}) != 0) {
      std::cerr << "run " << r << ": sbx up failed\n";
      return 1;
    }
    up_ms.push_back(ms_since(t0));
    // Find the sandbox's state file (one sandbox in this private state dir).
    fs::path sandbox;
    for (const auto& e : fs::directory_iterator(fs::path(g_state) / "sandboxes")) sandbox = e.path();
    std::ifstream sf(sandbox / "state.json");
    const auto state = nlohmann::json::parse(sf, nullptr, false);
    for (int i = 0; i < 20; ++i) {
      t0 = steady_clock::now();
      run_sbx({"exec", "--name", sandbox.filename().string(), "--", "true"});
      exec_ms.push_back(ms_since(t0));
    }
    sup_rss.push_back(rss_kib(state.value("supervisor_pid", 0L)) / 1024.0);
    vmm_rss.push_back(rss_kib(state.value("vmm_pid", 0L)) / 1024.0);
    guest_ready.push_back(state.value("ready_ms", 0));
    std::ifstream lf(sandbox / "launch.json");
    std::string text((std::istreambuf_iterator<char>(lf)), std::istreambuf_iterator<char>());
    auto launch = sbx::supervisor::launch_from_json(text, "launch.json");
    run_sbx({"down", "--all"});
    if (!launch) return 1;
    const double bare = bare_boot_ms(*launch);
    bare_ms.push_back(bare);
    if (!other_kernel.empty()) {
      other_ms.push_back(bare_boot_ms(*launch, other_kernel));
      std::printf("run %d: bare boot of %s %.0f ms\n", r + 1, other_kernel.c_str(), other_ms.back());
    }
    std::printf("run %d: up %.0f ms, bare boot %.0f ms, exec median %.1f ms\n", r + 1, up_ms.back(), bare,
                median({exec_ms.end() - 20, exec_ms.end()}));
  }
  const double up = median(up_ms), bare = median(bare_ms);
  std::printf("\nmedian of %d runs (%s)\n", runs, project.c_str());
  std::printf("  sbx up --detach to ready        %8.0f ms\n", up);
  std::printf("    of which supervisor start to READY %4.0f ms\n", median(guest_ready));
  std::printf("  bare QEMU boot to /init's HELLO %8.0f ms\n", bare);
  if (!other_kernel.empty())
    std::printf("  bare QEMU boot, --bare-kernel     %8.0f ms\n", median(other_ms));
  std::printf("  ratio up / bare                 %8.2f x   (target <= 1.3)\n", bare > 0 ? up / bare : 0);
  std::printf("  sbx exec -- true round trip     %8.1f ms  (target < 50; %zu execs)\n", median(exec_ms), exec_ms.size());
  std::printf("  supervisor RSS                  %8.1f MiB (target < 10)\n", median(sup_rss));
  std::printf("  VMM (QEMU) RSS                  %8.1f MiB\n", median(vmm_rss));
  std::error_code ec;
  fs::remove_all(g_state, ec);
  return 0;
}
