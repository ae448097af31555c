// sbx_docker_bench: issue 16's Docker figures, medians of --runs runs:
//   - boot to daemon ready: from the start of `sbx up` of a [docker] sandbox to `sbx status`
//     reporting the guest's dockerd running (polled every 100 ms); the first boot (a new sandbox
//     disk, an empty /var/lib/docker) apart from the later ones (a stopped sandbox started again);
//   - `docker run --rm IMAGE true` inside the VM, timed in the guest (date +%s%N around it), for
//     a busybox image made on the host and `docker import`ed. Beside it the same on the host if
//     the host has a Docker daemon (`docker info` answers); these machines have none.
// Uses the dev image from the agents tests' cache (build-*/agents-cache, or --cache DIR) and a
// private state directory. Not a test: prints numbers.
//
//   build-*/tests/bench/sbx_docker_bench [--runs 3] [--cache DIR]
//
// Measured here (2026-12-02, TCG: /dev/kvm is PVM; 2 cores shared with two other builds and a TCG
// build VM; --runs 3; 1 vCPU, 1 GiB): boot to daemon ready 24.8 s on a new disk, 29.1 s for a
// stopped sandbox started again (median of 3; the daemon reloads its images and networks);
// `docker run --rm IMAGE true` in the VM 15.3 s (median of 3). The host has no Docker daemon, so
// there is no host figure beside it. `sbx up` itself was ready in 2-6 s of those; the rest is
// dockerd and containerd starting under software emulation.
#include "bench_run.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace sbx::bench;

namespace {

std::string g_cache;

// Seconds from the start of `sbx up` to the daemon reported running.
double up_to_daemon(const fs::path& project) {
  const auto t0 = Clock::now();
  must(run({SBX_BENCH_BINARY, "up", "--yes", project.string()}) == 0, "sbx up");
  for (;;) {
    std::string out;
    run({SBX_BENCH_BINARY, "status", "--name", "docker-bench", "--json"}, &out);
    const auto j = nlohmann::json::parse(out, nullptr, false);
    const std::string state = j.is_object() && j.contains("docker") ? j["docker"].value("state", "") : "";
    if (state == "running") break;
    must(state != "failed", "dockerd start (" + (j.is_object() && j.contains("docker") ? j["docker"].dump() : std::string()) + ")");
    must(Clock::now() - t0 < std::chrono::minutes(15), "dockerd ready within 15 minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  g_cache = SBX_BENCH_CACHE_DIR;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--cache") g_cache = argv[i + 1];
  }
  char tmpl[] = "/var/tmp/sbx-docker-bench-XXXXXX";
  must(::mkdtemp(tmpl) != nullptr, "mkdtemp");
  const fs::path root = tmpl;
  run_env() = {"SBX_STATE_DIR=" + (root / "state").string(), "SBX_CACHE_DIR=" + g_cache};
  const fs::path project = root / "project";
  fs::create_directories(project / "bb" / "bin");
  fs::copy_file("/bin/busybox", project / "bb" / "bin" / "busybox");
  for (const char* applet : {"sh", "true"}) fs::create_symlink("busybox", project / "bb" / "bin" / applet);
  must(std::system(("tar -C '" + (project / "bb").string() + "' -cf '" + (project / "bb.tar").string() + "' .").c_str()) == 0, "tar");
  std::ofstream(project / "Sandboxfile") << "version = 1\nname = \"docker-bench\"\n[agent]\npreset = \"shell\"\ncommand = [\"/bin/true\"]\n"
                                         << "[[mount]]\nsource = \".\"\ntarget = \"/workspace\"\n[docker]\nenabled = true\n";
  std::vector<double> first, later, in_vm;
  for (int r = 0; r < runs + 1; ++r) {
    const double s = up_to_daemon(project);
    (r == 0 ? first : later).push_back(s);
    if (r == 0) {
      must(run({SBX_BENCH_BINARY, "exec", "--name", "docker-bench", "--", "docker", "import", "/workspace/bb.tar", "bench-bb:1"}) == 0, "docker import");
      must(run({SBX_BENCH_BINARY, "exec", "--name", "docker-bench", "--", "docker", "run", "--rm", "bench-bb:1", "true"}) == 0, "docker run (warm-up)");
      std::string out;
      const std::string loop = "for i in $(seq " + std::to_string(runs) +
                               "); do s=$(date +%s%N); docker run --rm bench-bb:1 true || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); done";
      must(run({SBX_BENCH_BINARY, "exec", "--name", "docker-bench", "--", "sh", "-c", loop}, &out) == 0, "docker run in the VM");
      std::istringstream lines(out);
      for (double ms; lines >> ms;) in_vm.push_back(ms);
    }
    must(run({SBX_BENCH_BINARY, "down", "--name", "docker-bench"}) == 0, "sbx down");
  }
  std::printf("boot to daemon ready, first boot (new disk):   %.1f s\n", median(first));
  std::printf("boot to daemon ready, stopped sandbox (median of %d): %.1f s\n", runs, median(later));
  std::printf("docker run --rm IMAGE true in the VM (median of %zu): %.0f ms\n", in_vm.size(), median(in_vm));
  if (std::system("docker info >/dev/null 2>&1") == 0) {
    std::vector<double> host;
    must(std::system(("docker import '" + (project / "bb.tar").string() + "' bench-bb:1 >/dev/null").c_str()) == 0, "host docker import");
    for (int i = 0; i < runs; ++i) {
      const auto t0 = Clock::now();
      must(std::system("docker run --rm bench-bb:1 true") == 0, "host docker run");
      host.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::printf("docker run --rm IMAGE true on the host (median of %d): %.0f ms\n", runs, median(host));
  } else {
    std::printf("docker run --rm IMAGE true on the host: no Docker daemon on this host (not measured)\n");
  }
  run({SBX_BENCH_BINARY, "rm", "--force", "docker-bench"});
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
