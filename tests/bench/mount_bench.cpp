// sbx_mount_bench: issue 6's mount figures, host vs inside the guest on a virtio-fs mount, in one
// run, median of --runs runs (default 3):
//   - create 10 000 small files (100 bytes each), then stat each of them;
//   - `git status` on a repository of 10 000 files (the host's git, its libraries and its dynamic
//     loader copied onto the mount, since the built-in image is busybox only);
//   - the same small-file workloads on the guest's tmpfs (the floor: emulated CPU, no virtio-fs);
//   - sequential write (with fsync) and read of 512 MiB (the read after dropping the guest's page
//     cache, so it crosses virtio-fs; the host file is in the host's page cache on both sides).
// The same static worker (mount_bench_worker) times each workload from inside, on both sides.
// Not a test: prints numbers. Uses a private state directory and a scratch directory.
//
//   build-*/tests/bench/sbx_mount_bench [--runs 3] [--files 10000] [--mib 512] [--dir /var/tmp]
//                                       [--cache auto|always] [--virtiofsd-args "--thread-pool-size=0"]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::string g_state;
std::string g_virtiofsd_args;

// Run argv (no shell), stdout captured, stderr to ours; returns the exit status.
int run(const std::vector<std::string>& argv, std::string* out = nullptr, bool quiet_err = false) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("SBX_STATE_DIR", g_state.c_str(), 1);
    if (!g_virtiofsd_args.empty()) ::setenv("SBX_VIRTIOFSD_ARGS", g_virtiofsd_args.c_str(), 1);
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(p[1], 1);
    if (quiet_err) ::dup2(devnull, 2);
    ::close(p[0]);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    ::_exit(127);
  }
  ::close(p[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0)
    if (out) out->append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<std::string> sbx(std::vector<std::string> args) {
  args.insert(args.begin(), SBX_BENCH_BINARY);
  return args;
}

// A command in the guest, bounded: a share that stalls (vmm/MOUNTS.md, Known limits) ends the
// run with the figures so far instead of hanging the benchmark.
std::vector<std::string> in_guest(std::vector<std::string> cmd, bool root = false) {
  std::vector<std::string> a = {"timeout", "300", SBX_BENCH_BINARY, "exec", "--name", "mountbench"};
  if (root) a.insert(a.end(), {"--user", "root"});
  a.push_back("--");
  a.insert(a.end(), cmd.begin(), cmd.end());
  return a;
}

// Run a worker command and collect its "<name> <ms>" lines into `into` (name prefixed).
bool measure(const std::vector<std::string>& argv, const std::string& side, std::map<std::string, std::vector<double>>& into) {
  std::string out;
  if (run(argv, &out) != 0) {
    std::cerr << "failed: " << argv[0] << " ... " << argv.back() << "\n";
    return false;
  }
  std::istringstream lines(out);
  std::string name;
  double ms;
  while (lines >> name >> ms) into[side + " " + name].push_back(ms);
  return true;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// The host's git with every library it loads and the dynamic loader, into `dir`.
bool bundle_git(const fs::path& dir) {
  fs::create_directories(dir);
  std::string ldd;
  if (run({"ldd", "/usr/bin/git"}, &ldd) != 0) return false;
  fs::copy_file("/usr/bin/git", dir / "git", fs::copy_options::overwrite_existing);
  std::istringstream in(ldd);
  std::string line;
  while (std::getline(in, line)) {
    // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    std::istringstream w(line);
    std::vector<std::string> words;
    for (std::string s; w >> s;) words.push_back(s);
    std::string path;
    for (const auto& s : words)
      if (s.starts_with("/")) path = s;
    if (path.empty()) continue;
    fs::copy_file(fs::canonical(path), dir / fs::path(path).filename(), fs::copy_options::overwrite_existing);
  }
  return fs::exists(dir / "ld-linux-x86-64.so.2");
}

bool make_repo(const fs::path& repo, int files) {
  for (int i = 0; i < files; ++i) {
    const fs::path d = repo / ("d" + std::to_string(i / 100));
    if (i % 100 == 0) fs::create_directories(d);
    std::ofstream(d / ("f" + std::to_string(i) + ".txt")) << "file " << i << "\n";
  }
  const std::string r = repo.string();
  // The guest sees other owners and device numbers than the host: compare only what both agree on.
  return run({"git", "-C", r, "init", "-q"}) == 0 && run({"git", "-C", r, "config", "core.checkStat", "minimal"}) == 0 &&
         run({"git", "-C", r, "add", "."}) == 0 &&
         run({"git", "-C", r, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "files"}) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3, files = 10000, mib = 512;
  std::string base = "/var/tmp";
  std::string cache = "auto";  // the mount's `cache` policy in the Sandboxfile
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--files") files = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--mib") mib = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--dir") base = argv[i + 1];
    else if (a == "--virtiofsd-args") g_virtiofsd_args = argv[i + 1];
    else if (a == "--cache") cache = argv[i + 1];
  }
  std::string tmpl = base + "/sbx-mount-bench-XXXXXX";
  const fs::path root = ::mkdtemp(tmpl.data());
  g_state = (root / "state").string();
  const fs::path share = root / "share", proj = root / "proj";
  fs::create_directories(share / "bin");
  fs::create_directories(proj);
  fs::copy_file(SBX_BENCH_WORKER, share / "bin" / "worker");
  std::cerr << "preparing a " << files << "-file git repository and the host's git for the guest...\n";
  if (!bundle_git(share / "git") || !make_repo(share / "repo", files)) {
    std::cerr << "could not prepare git\n";
    return 1;
  }
  std::ofstream(proj / "Sandboxfile") << "version = 1\nname = \"mountbench\"\n[agent]\ncommand = [\"/bin/true\"]\n"
                                         "[resources]\nmemory = \"1GiB\"\n"
                                         "[[mount]]\nsource = \"../share\"\ntarget = \"/bench\"\nmode = \"rw\"\n"
                                      << "cache = \"" << cache << "\"\n";
  if (run(sbx({"up", "--detach", proj.string()})) != 0) {
    std::cerr << "sbx up failed (state in " << g_state << ")\n";
    return 1;
  }
  const std::string worker_h = (share / "bin" / "worker").string(), worker_g = "/bench/bin/worker";
  const std::vector<std::string> git_h = {"/usr/bin/git", "-C", (share / "repo").string(), "status", "--porcelain"};
  const std::vector<std::string> git_g = {"/bench/git/ld-linux-x86-64.so.2", "--library-path", "/bench/git", "/bench/git/git",
                                          "-C", "/bench/repo", "status", "--porcelain"};
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  std::map<std::string, std::vector<double>> t;
  std::map<std::string, std::vector<double>> warm;
  // The floor: the same small-file workloads on the guest's own tmpfs, where no request leaves
  // the VM. What the guest costs there is the emulated CPU alone; the rest is virtio-fs.
  const std::vector<std::string> git_t = {"/bench/git/ld-linux-x86-64.so.2", "--library-path", "/bench/git", "/bench/git/git",
                                          "-C", "/tmp/repo", "status", "--porcelain"};
  if (run(in_guest({"cp", "-a", "/bench/repo", "/tmp/repo"})) != 0) {
    std::cerr << "could not copy the repository into the guest's /tmp\n";
    run(sbx({"down", "--all"}));
    return 1;
  }
  // And on the host's tmpfs, so the floor compares like with like.
  std::string shm_tmpl = "/dev/shm/sbx-mount-bench-XXXXXX";
  const fs::path shm = ::mkdtemp(shm_tmpl.data());
  fs::copy(share / "repo", shm / "repo", fs::copy_options::recursive);
  const std::vector<std::string> git_s = {"/usr/bin/git", "-C", (shm / "repo").string(), "status", "--porcelain"};
  // Warm-up: the first git status on each side refreshes the index.
  measure(with({worker_h, "run"}, git_h), "host", warm);
  measure(with({worker_h, "run"}, git_s), "host", warm);
  measure(in_guest(with({worker_g, "run"}, git_t)), "warm-up", warm);
  bool ok = true;
  // A helper step (dropping the guest's caches, removing its files) that fails is named.
  auto step = [](int rc, const char* what) {
    if (rc != 0) std::cerr << "failed (status " << rc << "): " << what << "\n";
    return rc == 0;
  };
  for (int r = 0; r < runs && ok; ++r) {
    std::cerr << "run " << r + 1 << "/" << runs << "...\n";
    const std::string n = std::to_string(files), m = std::to_string(mib), id = std::to_string(r);
    // virtiofsd holds a descriptor per inode the guest caches (10 000 files each for the repo and
    // the small-file run): the guest forgets them first, so a low fd limit (20 000 here) suffices.
    ok = measure({worker_h, "files", (share / ("h" + id)).string(), n}, "host", t) &&
         step(run(in_guest({"sh", "-c", "echo 2 > /proc/sys/vm/drop_caches"}, true)), "drop the guest's caches") &&
         measure(in_guest({worker_g, "files", "/bench/g" + id, n}), "guest", t) &&
         step(run(in_guest({"rm", "-rf", "/bench/g" + id})), "remove the guest's files") &&
         measure({worker_h, "files", (shm / ("t" + id)).string(), n}, "host-tmpfs", t) &&
         measure(with({worker_h, "run"}, git_s), "host-tmpfs git-status", t) &&
         measure(in_guest({worker_g, "files", "/tmp/t" + id, n}), "tmpfs", t) &&
         step(run(in_guest({"rm", "-rf", "/tmp/t" + id})), "remove the guest's tmpfs files") &&
         measure(in_guest(with({worker_g, "run"}, git_t)), "tmpfs git-status", t) &&
         measure(in_guest(with({worker_g, "run"}, git_g)), "warm-up", warm) &&
         measure(with({worker_h, "run"}, git_h), "host git-status", t) &&
         measure(in_guest(with({worker_g, "run"}, git_g)), "guest git-status", t) &&
         measure({worker_h, "write", (share / "h.big").string(), m}, "host", t) &&
         measure({worker_h, "read", (share / "h.big").string()}, "host", t) &&
         measure(in_guest({worker_g, "write", "/bench/g.big", m}), "guest", t) &&
         step(run(in_guest({"sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"}, true)), "drop the guest's caches") &&
         measure(in_guest({worker_g, "read", "/bench/g.big"}), "guest", t);
    std::error_code ec;
    fs::remove_all(share / ("h" + id), ec);
    fs::remove_all(shm / ("t" + id), ec);
  }
  std::error_code shm_ec;
  fs::remove_all(shm, shm_ec);
  run(sbx({"down", "--all"}));
  std::error_code ec;
  fs::remove_all(root, ec);
  if (!ok) std::printf("(a step failed: the figures below are from the runs before it)\n");
  std::printf("virtio-fs mount, cache = \"%s\", median of %d runs (virtiofsd extra args: %s)\n", cache.c_str(), runs,
              g_virtiofsd_args.empty() ? "none" : g_virtiofsd_args.c_str());
  std::printf("(ratio: guest on the mount vs host on the shared directory (the target);\n"
              " floor: guest tmpfs vs host tmpfs, what the emulated CPU costs with no virtio-fs;\n"
              " virtio-fs: guest on the mount vs guest tmpfs, what sharing the host directory adds)\n");
  std::printf("%-30s %9s %9s %7s %9s %9s %7s %9s\n", "workload", "host ms", "mount ms", "ratio", "h-tmpfs", "g-tmpfs",
              "floor", "virtio-fs");
  const std::pair<std::string, std::string> rows[] = {
      {"create " + std::to_string(files) + " small files", "create"},
      {"stat " + std::to_string(files) + " files", "stat"},
      {"git status, " + std::to_string(files) + " files", "git-status run"},
      {"write " + std::to_string(mib) + " MiB (+fsync)", "write"},
      {"read " + std::to_string(mib) + " MiB", "read"},
  };
  for (const auto& [label, key] : rows) {
    const double h = median(t["host " + key]), g = median(t["guest " + key]);
    const double hs = median(t["host-tmpfs " + key]), f = median(t["tmpfs " + key]);
    if (f <= 0 || hs <= 0) {  // bulk rows: no floor (a 512 MiB file does not fit the guest's tmpfs)
      std::printf("%-30s %9.1f %9.1f %6.1fx %9s %9s %7s %9s\n", label.c_str(), h, g, h > 0 ? g / h : 0.0, "-", "-", "-", "-");
      continue;
    }
    std::printf("%-30s %9.1f %9.1f %6.1fx %9.1f %9.1f %6.1fx %8.1fx\n", label.c_str(), h, g, h > 0 ? g / h : 0.0, hs, f,
                f / hs, g / f);
  }
  return 0;
}
