// sbx_lifecycle_bench: issue 14's lifecycle figures, in one run, medians of --runs runs:
//   - `sbx ls` with 0, 1 and 20 sandboxes on the machine (--ls-runs, default 21); the baseline is
//     `sbx ls` with none, in the same run (the process start and the directory scan);
//   - `sbx up` of a stopped sandbox whose disk holds --used-mib MiB (default 2048), beside `sbx up`
//     of the same Sandboxfile with no disk yet (created fresh).
// The 20 sandboxes are one real sandbox (booted, stopped) and 19 copies of its state directory
// under other names, the way `sbx ls` finds sandboxes: state directories. Not a test: prints
// numbers. Uses a private state directory.
//
//   build-*/tests/bench/sbx_lifecycle_bench [--runs 3] [--ls-runs 21] [--used-mib 2048]
//
// Measured here (TCG: /dev/kvm is PVM; 2 cores; --runs 3 --used-mib 1024): sbx ls 12.1 ms with no
// sandbox, 17.8 ms with 1, 21.1 ms with 20 (1.74x); sbx up of a fresh sandbox 5.07 s, of a
// stopped one with 1 GiB used 4.29 s (0.85x).
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
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using namespace sbx::bench;

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
  return s;
}

double ls_median(int runs, size_t expect) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    std::string out;
    const auto t0 = Clock::now();
    must(run({SBX_BENCH_BINARY, "ls", "--json"}, &out) == 0, "sbx ls");
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    size_t n = 0;
    for (size_t at = 0; (at = out.find("\"project_dir\":", at)) != std::string::npos; ++at) ++n;
    must(n == expect, "sbx ls listing " + std::to_string(expect) + " sandboxes (it listed " + std::to_string(n) + ")");
  }
  return median(t);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3, ls_runs = 21, used_mib = 2048;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else if (a == "--ls-runs") ls_runs = std::atoi(argv[i + 1]);
    else if (a == "--used-mib") used_mib = std::atoi(argv[i + 1]);
  }
  char tmpl[] = "/var/tmp/sbx-lifecycle-bench-XXXXXX";
  must(::mkdtemp(tmpl) != nullptr, "mkdtemp");
  const fs::path root = tmpl;
  const std::string state = (root / "state").string();
  run_env() = {"SBX_STATE_DIR=" + state};
  const fs::path project = root / "project";
  fs::create_directories(project);
  const int disk_gib = used_mib / 1024 + 2;
  std::ofstream(project / "Sandboxfile") << "version = 1\nname = \"bench\"\n[agent]\npreset = \"shell\"\ncommand = [\"/bin/true\"]\n"
                                         << "[resources]\nmemory = \"512MiB\"\ndisk = \"" << disk_gib << "GiB\"\n";

  // /dev/kvm may exist and still be unusable (PVM): sbx up's own warning says which it used.
  std::printf("sbx lifecycle bench (%s)\n", fs::exists("/dev/kvm") ? "/dev/kvm exists; sbx falls back to TCG where it cannot use it"
                                                                    : "no /dev/kvm: TCG");
  const double ls0 = ls_median(ls_runs, 0);

  // Fresh: no disk yet (rm between runs), then the same sandbox stopped with a used disk.
  std::vector<double> fresh, stopped;
  for (int i = 0; i < runs; ++i) {
    int code = 0;
    fresh.push_back(timed({SBX_BENCH_BINARY, "up", "--detach", project.string()}, &code));
    must(code == 0, "sbx up (fresh)");
    must(run({SBX_BENCH_BINARY, "down", "--name", "bench"}) == 0, "sbx down");
    if (i + 1 < runs) must(run({SBX_BENCH_BINARY, "rm", "bench"}) == 0, "sbx rm");
  }
  must(run({SBX_BENCH_BINARY, "up", "--detach", project.string()}) == 0, "sbx up");
  // Real data on the disk: random bytes, fsynced (the guest's overlay upper is the sandbox disk).
  must(run({SBX_BENCH_BINARY, "exec", "--name", "bench", "--user", "root", "--", "sh", "-c",
            "dd if=/dev/urandom of=/var/fill bs=1M count=" + std::to_string(used_mib) + " conv=fsync 2>/dev/null"}) == 0,
       "filling the disk");
  std::string du;
  run({SBX_BENCH_BINARY, "exec", "--name", "bench", "--", "sh", "-c", "du -sm /var/fill | cut -f1"}, &du);
  must(run({SBX_BENCH_BINARY, "down", "--name", "bench"}) == 0, "sbx down");
  for (int i = 0; i < runs; ++i) {
    int code = 0;
    stopped.push_back(timed({SBX_BENCH_BINARY, "up", "--detach", project.string()}, &code));
    must(code == 0, "sbx up (stopped, used disk)");
    must(run({SBX_BENCH_BINARY, "down", "--name", "bench"}) == 0, "sbx down");
  }

  const double ls1 = ls_median(ls_runs, 1);
  // 19 more: copies of the real one's state directory under other names (what sbx ls reads).
  const fs::path dir = fs::path(state) / "sandboxes";
  for (int i = 1; i < 20; ++i) {
    const std::string name = "bench" + std::to_string(i);
    const fs::path to = dir / name;
    fs::create_directories(to);
    for (const auto& e : fs::directory_iterator(dir / "bench")) {
      const std::string f = e.path().filename();
      if (!e.is_regular_file() || f == "disk.ext4") continue;  // the disk is big; ls stats it (absent: 0)
      std::ifstream in(e.path());
      std::stringstream s;
      s << in.rdbuf();
      std::ofstream(to / f) << replace_all(replace_all(s.str(), "\"bench\"", "\"" + name + "\""),
                                           "/sandboxes/bench/", "/sandboxes/" + name + "/");
    }
  }
  const double ls20 = ls_median(ls_runs, 20);

  std::printf("  sbx ls, no sandbox (baseline)      %8.1f ms\n", ls0);
  std::printf("  sbx ls, 1 sandbox                  %8.1f ms  (%.2fx)\n", ls1, ls1 / ls0);
  std::printf("  sbx ls, 20 sandboxes               %8.1f ms  (%.2fx)   target < 50 ms\n", ls20, ls20 / ls0);
  std::printf("  sbx up, fresh (no disk yet)        %8.0f ms  (baseline)\n", median(fresh));
  std::printf("  sbx up, stopped, %4s MiB used    %8.0f ms  (%.2fx)\n", du.empty() ? "?" : du.substr(0, du.find('\n')).c_str(),
              median(stopped), median(stopped) / median(fresh));
  run({SBX_BENCH_BINARY, "rm", "bench"});
  fs::remove_all(root);
  return 0;
}
