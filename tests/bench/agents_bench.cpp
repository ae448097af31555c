// sbx_agents_bench: issue 13's figures, in one run:
//   - the dev image build, first time: the first `sbx up` of a dev-image sandbox into an empty
//     cache, beside the same `sbx up` once the image is cached (the difference is the build);
//   - the agent layer build, first time (Claude Code's npm package installed in a build VM), the
//     same way: the first `sbx up` of a claude-code sandbox beside its cached `sbx up`;
//   - `sbx up` to ready with the cached agent image, beside `sbx up` of examples/hello
//     (medians of --runs, each after `sbx down`, disk kept);
//   - `claude -p` round trip inside the VM against the fake provider, beside the same CLI binary
//     (taken from the agent layer sbx built, never installed here: no npm install scripts run on
//     this host) run on the host against the same server (medians of --runs).
// The fake provider (tests/agents/fake_provider.py) serves HTTPS on loopback; the sandbox reaches
// it by a pinned name (SBX_EGRESS_RESOLVE) with the proxy trusting its CA. Private state, data
// and (unless --cache DIR) cache directories under /var/tmp. Not a test: prints numbers.
//
//   build-*/tests/bench/sbx_agents_bench [--runs 3] [--cache DIR]
//
// With --cache naming a warm cache the "first time" lines measure nothing new (they say so); an
// empty or missing --cache DIR is measured cold and keeps what was built.
#include "bench_run.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fake_provider.h"

namespace fs = std::filesystem;
using namespace sbx::bench;

namespace {

constexpr const char* kProvider = "anthropic.provider.test";
constexpr const char* kPrompt = "Reply with one short sentence.";

// The preset's switches that keep the CLI from calling anything but the API (claude-code.toml).
const std::vector<std::string> kQuiet = {"DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
                                         "DISABLE_TELEMETRY=1", "DISABLE_ERROR_REPORTING=1", "IS_SANDBOX=1"};

std::string claude_sandboxfile(int port) {
  const std::string p = std::to_string(port);
  return std::string("version = 1\nname = \"agents-bench\"\n[agent]\npreset = \"claude-code\"\n") +
         "env = { ANTHROPIC_BASE_URL = \"https://" + kProvider + ":" + p + "\" }\n"
         "[[mount]]\nsource = \".\"\ntarget = \"/workspace\"\nmode = \"rw\"\n"
         "[egress]\nallow = [\"" + kProvider + ":" + p + "\", \"127.0.0.1/32:" + p + "\"]\n"
         "[[secret]]\nname = \"anthropic-api-key\"\nhosts = [\"" + kProvider + "\"]\nheader = \"x-api-key\"\ntemplate = \"{}\"\n"
         "[resources]\ncpus = 2\nmemory = \"2GiB\"\n";
}

// `sbx up --detach` of `project` after a down (the disk is kept): milliseconds.
double up_ms(const fs::path& project, const std::string& what) {
  int code = 0;
  std::string out;
  const double ms = timed({SBX_BENCH_BINARY, "up", "--detach", "--timeout", "1800", project.string()}, &code, {}, &out);
  must(code == 0, "sbx up (" + what + ")");
  return ms;
}

void down(const fs::path& project) { must(run({SBX_BENCH_BINARY, "down", project.string()}) == 0, "sbx down"); }
void rm(const std::string& name) { must(run({SBX_BENCH_BINARY, "rm", "--force", name}) == 0, "sbx rm " + name); }

// The agent layer tar sbx built for Claude Code: the newest agent-*.tar of the cache.
fs::path agent_layer(const fs::path& cache) {
  fs::path best;
  fs::file_time_type when{};
  for (const auto& e : fs::directory_iterator(cache / "images" / "layers")) {
    const std::string n = e.path().filename();
    if (n.rfind("agent-", 0) == 0 && e.path().extension() == ".tar" && (best.empty() || e.last_write_time() > when)) {
      best = e.path();
      when = e.last_write_time();
    }
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  std::string cache_arg;
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (i + 1 < argc && a == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
    else if (i + 1 < argc && a == "--cache") cache_arg = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: sbx_agents_bench [--runs N] [--cache DIR]\n");
      return 2;
    }
  }
  char tmpl[] = "/var/tmp/sbx-agents-bench-XXXXXX";
  must(::mkdtemp(tmpl) != nullptr, "mkdtemp");
  const fs::path root = tmpl;
  const fs::path cache = cache_arg.empty() ? root / "cache" : fs::path(cache_arg);
  // First-time figures need an empty cache: a fresh one, or a --cache DIR with nothing in it yet.
  std::error_code cache_ec;
  const bool cold = !fs::exists(cache) || fs::is_empty(cache, cache_ec);
  run_keeps_stderr() = true;  // sbx's progress and errors stay visible: the builds take minutes
  sbx::testing::FakeProvider provider(root / "provider", {kProvider});
  must(provider.port > 0, "starting the fake provider");
  const std::string port = std::to_string(provider.port);
  const std::string key = "sk-ant-bench-not-a-real-key";
  run_env() = {"SBX_STATE_DIR=" + (root / "state").string(), "SBX_CACHE_DIR=" + cache.string(),
               "SBX_DATA_DIR=" + (root / "data").string(), std::string("SBX_EGRESS_RESOLVE=") + kProvider + "=127.0.0.1",
               "SBX_EGRESS_UPSTREAM_CA=" + provider.ca.string()};
  std::printf("sbx agents bench (%s; cache %s, %s)\n",
              fs::exists("/dev/kvm") ? "/dev/kvm exists; sbx falls back to TCG where it cannot use it" : "no /dev/kvm: TCG",
              cache.c_str(), cold ? "empty: first-time builds measured" : "warm");
  std::fflush(stdout);

  // 1. The dev image: first up (build + boot), then cached ups.
  const fs::path dev = root / "dev";
  fs::create_directories(dev);
  std::ofstream(dev / "Sandboxfile") << "version = 1\nname = \"agents-bench-dev\"\n[agent]\npreset = \"shell\"\ncommand = [\"true\"]\n"
                                        "[image]\nref = \"dev\"\n[resources]\nmemory = \"1GiB\"\n";
  const double dev_first = up_ms(dev, "dev image, first");
  down(dev);
  std::vector<double> dev_cached;
  for (int i = 0; i < runs; ++i) {
    rm("agents-bench-dev");  // a fresh disk each time, like the first up had
    dev_cached.push_back(up_ms(dev, "dev image, cached"));
    down(dev);
  }

  // 2. The agent layer: first up of a claude-code sandbox (build VM + boot), then cached ups.
  const fs::path proj = root / "claude";
  fs::create_directories(proj);
  std::ofstream(proj / "Sandboxfile") << claude_sandboxfile(provider.port);
  std::ofstream(root / "key") << key;
  must(run({SBX_BENCH_BINARY, "secret", "set", "--from-file", (root / "key").string(), "anthropic-api-key"}) == 0, "sbx secret set");
  const double agent_first = up_ms(proj, "agent layer, first");
  down(proj);
  std::vector<double> agent_cached_fresh, agent_cached, hello;
  for (int i = 0; i < runs; ++i) {
    rm("agents-bench");
    agent_cached_fresh.push_back(up_ms(proj, "agent image, cached, fresh disk"));
    down(proj);
  }
  // 3. Cached agent image beside examples/hello, each after a down (disk kept).
  for (int i = 0; i < runs; ++i) {
    agent_cached.push_back(up_ms(proj, "agent image, cached"));
    down(proj);
    hello.push_back(up_ms(fs::path(SBX_BENCH_SOURCE_DIR) / "examples" / "hello", "examples/hello"));
    must(run({SBX_BENCH_BINARY, "down", (fs::path(SBX_BENCH_SOURCE_DIR) / "examples" / "hello").string()}) == 0, "sbx down hello");
  }

  // 4. claude -p in the VM and on the host, against the same fake provider.
  must(run({SBX_BENCH_BINARY, "up", "--detach", proj.string()}) == 0, "sbx up");
  std::vector<double> in_vm, on_host;
  std::string answer;
  for (int i = 0; i < runs; ++i) {
    int code = 0;
    answer.clear();
    in_vm.push_back(timed({SBX_BENCH_BINARY, "exec", "--", "claude", "-p", kPrompt}, &code, proj, &answer));
    must(code == 0 && answer.find(sbx::testing::kFakeProviderAnswer) != std::string::npos, "claude -p in the VM");
  }
  down(proj);
  const fs::path layer = agent_layer(cache), host = root / "host-claude";
  must(!layer.empty(), "finding the agent layer in " + cache.string());
  fs::create_directories(host / "home");
  must(run({"tar", "-xf", layer.string(), "-C", host.string()}) == 0, "unpacking the agent layer");
  std::vector<std::string> env = {"HOME=" + (host / "home").string(), "ANTHROPIC_API_KEY=" + key,
                                  "ANTHROPIC_BASE_URL=https://127.0.0.1:" + port, "NODE_EXTRA_CA_CERTS=" + provider.ca.string(),
                                  "SSL_CERT_FILE=" + provider.ca.string(), "HTTPS_PROXY=", "HTTP_PROXY=", "https_proxy=", "http_proxy="};
  env.insert(env.end(), kQuiet.begin(), kQuiet.end());
  for (int i = 0; i < runs; ++i) {
    int code = 0;
    answer.clear();
    on_host.push_back(timed({(host / "usr" / "local" / "bin" / "claude").string(), "-p", kPrompt}, &code, host / "home", &answer, env));
    must(code == 0 && answer.find(sbx::testing::kFakeProviderAnswer) != std::string::npos, "claude -p on the host");
  }

  const auto s = [](double ms) { return ms / 1000.0; };
  std::printf("  dev image, first sbx up (build + boot)      %8.1f s\n", s(dev_first));
  std::printf("  dev image, cached sbx up (fresh disk)       %8.1f s   -> build %.1f s%s\n", s(median(dev_cached)),
              s(dev_first - median(dev_cached)), cold ? "" : " (warm cache: nothing built)");
  std::printf("  claude-code, first sbx up (layer + boot)    %8.1f s\n", s(agent_first));
  std::printf("  claude-code, cached sbx up (fresh disk)     %8.1f s   -> agent layer %.1f s%s\n", s(median(agent_cached_fresh)),
              s(agent_first - median(agent_cached_fresh)), cold ? "" : " (warm cache: nothing built)");
  std::printf("  agent layer tar                             %8.1f MiB (%s)\n", static_cast<double>(fs::file_size(layer)) / (1 << 20),
              layer.filename().c_str());
  std::printf("  examples/hello sbx up (baseline)            %8.1f s\n", s(median(hello)));
  std::printf("  claude-code sbx up, cached, disk kept       %8.1f s   (%.2fx hello)\n", s(median(agent_cached)),
              median(agent_cached) / median(hello));
  std::printf("  claude -p on the host (baseline)            %8.1f s\n", s(median(on_host)));
  std::printf("  claude -p in the VM                         %8.1f s   (%.2fx host)\n", s(median(in_vm)), median(in_vm) / median(on_host));
  rm("agents-bench");
  rm("agents-bench-dev");
  run({SBX_BENCH_BINARY, "rm", "--force", "hello"});
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
