#include "reconcile/agent_build.h"

#include <arpa/inet.h>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <netdb.h>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/run_tool.h"
#include "config/loader.h"
#include "config/mount_check.h"
#include "config/preset.h"
#include "image/agent_layer.h"
#include "image/build_lock.h"
#include "image/cache.h"
#include "image/dev_image.h"
#include "proxy/egress_log.h"
#include "reconcile/egress_apply.h"
#include "reconcile/launch_builder.h"
#include "reconcile/sandbox_disk.h"
#include "supervisor/client.h"
#include "supervisor/launch.h"
#include "supervisor/spawn.h"

namespace sbx::reconcile {
namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

// The build VM: npm needs about 1.7 GB for Claude Code and Codex together (measured in a TCG
// guest), so 2 GiB; two vCPUs where the host has them.
constexpr std::uint64_t kBuildMemory = 2ull << 30;
constexpr int kBuildTimeoutS = 1800;

fs::path cache_of(const image::ImportOptions& o) { return o.cache_dir.empty() ? paths::cache_dir() : o.cache_dir; }

void say(const image::ImportOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

std::string read_tail(const fs::path& p, size_t lines) {
  std::ifstream in(p);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l.substr(0, 400));
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "  " + all[i] + "\n";
  return out;
}

// The registry the host's npm uses: scheme, host, port (from `npm config get registry`, or
// SBX_NPM_REGISTRY). Nothing about it is written into sbx.
struct Registry {
  std::string url, host;
  std::uint16_t port = 443;
};

Result<Registry> host_registry() {
  std::string url;
  if (const char* e = std::getenv("SBX_NPM_REGISTRY"); e && *e) {
    url = e;
  } else {
    const std::string npm = SBX_TRY(find_tool("npm", "npm"));
    auto r = SBX_TRY(run_tool({npm, "config", "get", "registry"}));
    if (r.status != 0) return fail(ErrorCode::runtime, "'npm config get registry' failed: " + r.output.substr(0, 500));
    url = r.output;
  }
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r' || url.back() == ' ')) url.pop_back();
  Registry reg;
  reg.url = url;
  std::string rest;
  if (url.starts_with("https://")) rest = url.substr(8);
  else if (url.starts_with("http://")) { rest = url.substr(7); reg.port = 80; }
  else return fail(ErrorCode::invalid, "the npm registry '" + url.substr(0, 200) + "' is not an http(s) URL", "check 'npm config get registry'");
  std::string authority = rest.substr(0, rest.find('/'));
  if (authority.find('@') != std::string::npos)
    return fail(ErrorCode::invalid, "the npm registry URL carries credentials", "sbx gives the build VM no npm credentials; use a registry without them");
  if (const auto colon = authority.rfind(':'); colon != std::string::npos && authority.find(']') == std::string::npos) {
    reg.port = static_cast<std::uint16_t>(std::atoi(authority.substr(colon + 1).c_str()));
    authority = authority.substr(0, colon);
  }
  reg.host = authority;
  if (reg.host.empty() || reg.port == 0) return fail(ErrorCode::invalid, "cannot read the host of the npm registry '" + url.substr(0, 200) + "'");
  return reg;
}

// The registry's addresses now: each becomes a CIDR rule, which the SSRF defence needs for
// addresses in private or documentation ranges.
std::vector<std::string> resolve(const std::string& host) {
  std::set<std::string> out;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return {};
  for (addrinfo* a = res; a; a = a->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET)
      out.insert(std::string(::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, buf, sizeof buf)) + "/32");
    else if (a->ai_family == AF_INET6)
      out.insert(std::string(::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, buf, sizeof buf)) + "/128");
  }
  ::freeaddrinfo(res);
  return {out.begin(), out.end()};
}

// The exact version `spec` means now, asked of the registry with `npm view` (a metadata query:
// nothing is installed and no script runs on the host).
Result<std::string> resolve_version(const config::NpmPackage& p) {
  if (config::is_exact_npm_version(p.version)) return p.version;
  const std::string npm = SBX_TRY(find_tool("npm", "npm"));
  auto r = SBX_TRY(run_tool({npm, "view", "--json", p.name + "@" + p.version, "version"}));
  const auto j = nlohmann::json::parse(r.output, nullptr, false);
  std::string v;
  if (j.is_string()) v = j.get<std::string>();
  else if (j.is_array() && !j.empty() && j.back().is_string()) v = j.back().get<std::string>();
  if (r.status != 0 || !config::is_exact_npm_version(v))
    return fail(ErrorCode::runtime, "cannot resolve " + p.name + "@" + p.version + " with 'npm view': " + r.output.substr(0, 800),
                "check the package and version, and that the host's npm reaches its registry");
  return v;
}

std::string toml_string(const std::string& s) { return nlohmann::json(s).dump(); }

// Restores fds 1 and 2 when the npm output has gone to the log.
class Redirect {
 public:
  explicit Redirect(int fd) : out_(::dup(1)), err_(::dup(2)) {
    ::fflush(stdout);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  ~Redirect() {
    ::dup2(out_, 1);
    ::dup2(err_, 2);
    ::close(out_);
    ::close(err_);
  }

 private:
  int out_, err_;
};

// Boot the build sandbox described by `sandboxfile`, run its command with the output in `log`,
// stop it. Returns the command's exit code.
Result<int> run_build_sandbox(const fs::path& sandboxfile, const fs::path& log, const image::ImportOptions& o,
                              supervisor::SandboxPaths& paths_out) {
  config::Sandboxfile file = SBX_TRY(config::load_file(sandboxfile.string()));
  SBX_TRY_VOID(config::check_mount_sources(file, {paths::data_dir(), paths::state_dir(), paths::config_dir()}));
  const supervisor::SandboxPaths paths = supervisor::sandbox_paths(file.name);
  paths_out = paths;
  Artifacts artifacts = SBX_TRY(prepare_artifacts(file, o.progress, o.meter));
  SBX_TRY_VOID(paths::ensure_private_dir(paths.dir));
  // Every sandbox boots with its own disk as the writable layer (npm's cache and the unpacked
  // package go there, not into RAM); the build sandbox's is fresh and goes with its directory.
  const DiskPlan disk = SBX_TRY(plan_sandbox_disk(paths, disk_lower(artifacts), file.resources.disk_bytes, true));
  const DiskRecord record{.lower = disk_lower(artifacts), .image = file.image.reference, .size_bytes = file.resources.disk_bytes};
  for (const auto& w : SBX_TRY(apply_disk(disk, paths, record))) say(o, w);
  supervisor::Launch launch = make_launch(file, artifacts, paths);
  launch.boot_timeout_ms = 300 * 1000;
  SBX_TRY_VOID(write_egress_snapshot(file, paths));
  SBX_TRY_VOID(write_file_atomic(paths.launch(), supervisor::launch_to_json(launch), supervisor::kPrivateFile));
  const pid_t pid = SBX_TRY(supervisor::spawn_supervisor(paths.dir));
  const auto deadline = steady_clock::now() + seconds(10);
  std::optional<supervisor::Client> client;
  for (;;) {
    auto c = supervisor::Client::connect(paths);
    if (c) { client.emplace(std::move(*c)); break; }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid || steady_clock::now() > deadline)
      return fail(ErrorCode::runtime, "the build sandbox's supervisor did not start", "see " + paths.supervisor_log().string());
    ::usleep(5000);
  }
  SBX_TRY_VOID(client->wait_ready(seconds(300)));
  guest::protocol::Open open;
  open.kind = guest::protocol::OpenKind::exec;
  open.argv = file.agent.command;
  open.env = file.agent.env;
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail(ErrorCode::io, "cannot create " + log.string());
  Result<int> rc = [&] {
    Redirect r(fd);
    auto exec = supervisor::Client::connect(paths);
    if (!exec) return Result<int>(std::unexpected(exec.error()));
    return exec->run(open);
  }();
  ::close(fd);
  if (auto stop = supervisor::Client::connect(paths)) (void)stop->stop(seconds(30));
  int status = 0;
  ::waitpid(pid, &status, 0);
  return rc;
}

// The egress log lines that explain a failed registry fetch: refusals and HTTP errors.
std::string failures(const fs::path& egress_log) {
  std::ifstream in(egress_log);
  std::string out;
  for (const auto& l : proxy::failure_lines(in, 10)) out += "  " + l + "\n";
  return out;
}

}  // namespace

Result<image::PreparedImage> prepare_agent_image(const config::NpmPackage& package, const image::ImportOptions& o) {
  const fs::path cache = cache_of(o);
  if (!config::is_npm_package_name(package.name) || !config::is_npm_version_spec(package.version))
    return fail(ErrorCode::invalid, "invalid npm package " + package.name + "@" + package.version);
  const image::PreparedImage dev = SBX_TRY(image::prepare_dev_image(o));
  // A spec resolved once is reused, like a registry tag: no network on later runs.
  const std::string key = "agent:" + dev.id + ":" + package.name + "@" + package.version;
  const auto cached = [&]() -> std::optional<image::PreparedImage> {
    if (auto ref = image::read_ref(cache, key))
      if (auto hit = image::lookup(cache, ref->id)) {
        image::note_use(cache, ref->id, package.name + "@" + package.version);
        say(o, "image " + package.name + " " + ref->id.substr(0, 19) + ": cached");
        return *hit;
      }
    return std::nullopt;
  };
  if (auto hit = cached()) return *hit;
  // One build per package spec at a time: a second sbx waits, then finds the first one's layer.
  const image::BuildLock lock = SBX_TRY(image::BuildLock::acquire(image::layers_dir(cache), "agent-" + digest::sha256_hex(key).substr(0, 32),
                                                                  "the agent layer of " + package.name + "@" + package.version,
                                                                  seconds(3600), o.progress));
  if (auto hit = cached()) return *hit;  // the other process built it meanwhile
  const std::string version = SBX_TRY(resolve_version(package));
  const std::string id = "sha256:" + digest::sha256_hex(dev.id + "\n" + package.name + "@" + version);
  const std::string reference = "dev + " + package.name + "@" + version;
  if (auto hit = image::lookup(cache, id)) {
    image::write_ref(cache, key, {id, ""});
    return *hit;
  }
  const Registry reg = SBX_TRY(host_registry());
  const auto addresses = resolve(reg.host);
  if (addresses.empty())
    return fail(ErrorCode::runtime, "cannot resolve the npm registry host " + reg.host, "check the host's DNS and 'npm config get registry'");

  // Staging: out/ is the VM's npm prefix (read-write), in/ holds the host's CA bundle (read-only).
  const fs::path layers = image::layers_dir(cache);
  std::random_device rd;
  const std::string tag = digest::sha256_hex(id + std::to_string(rd())).substr(0, 12);
  const fs::path stage = layers / (".agent-build-" + tag);
  std::error_code ec;
  fs::create_directories(stage / "out" / "prefix", ec);
  fs::create_directories(stage / "in", ec);
  if (ec) return fail(ErrorCode::io, "cannot create " + stage.string() + ": " + ec.message());
  struct Cleanup {
    fs::path dir;
    ~Cleanup() { std::error_code e; fs::remove_all(dir, e); }
  } cleanup{stage};
  // The guest trusts what the host trusts: networks that inspect TLS use a CA the host added.
  for (const char* bundle : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}) {
    if (fs::is_regular_file(bundle, ec)) {
      fs::copy_file(bundle, stage / "in" / "host-ca.pem", fs::copy_options::overwrite_existing, ec);
      break;
    }
  }
  std::ostringstream sf;
  // npm's own retries do not cover a stream aborted mid-tarball (ECONNRESET, "network aborted":
  // seen on two of three first builds here, behind TLS inspection; the next attempt succeeded),
  // so the whole install is tried up to three times in the build VM.
  const std::string retry = "for n in 1 2 3; do \"$@\" && exit 0; echo \"sbx: npm install failed (attempt $n of 3)\" >&2; "
                            "[ $n = 3 ] || sleep 5; done; exit 1";
  sf << "version = 1\nname = \"sbx-build-" << tag << "\"\n\n[agent]\ncommand = ["
     << toml_string("sh") << ", " << toml_string("-c") << ", " << toml_string(retry) << ", " << toml_string("sh") << ", "
     << toml_string("npm") << ", " << toml_string("install") << ", " << toml_string("-g") << ", " << toml_string("--prefix") << ", "
     << toml_string("/sbx-out/prefix") << ", " << toml_string("--no-audit") << ", " << toml_string("--no-fund") << ", "
     << toml_string("--fetch-retries=5") << ", " << toml_string("--fetch-retry-mintimeout=2000") << ", "
     << toml_string("--registry") << ", " << toml_string(reg.url) << ", " << toml_string(package.name + "@" + version) << "]\n"
     << "env = { HOME = \"/tmp\", npm_config_cache = \"/tmp/npm-cache\", npm_config_update_notifier = \"false\""
     << (fs::exists(stage / "in" / "host-ca.pem") ? ", NODE_EXTRA_CA_CERTS = \"/sbx-in/host-ca.pem\"" : "") << " }\n"
     << "\n[image]\nref = \"dev\"\n\n[resources]\ncpus = " << std::min(2u, std::max(1u, std::thread::hardware_concurrency()))
     << "\nmemory = \"" << (kBuildMemory >> 20) << "MiB\"\n\n"
     << "[[mount]]\nsource = \"out\"\ntarget = \"/sbx-out\"\nmode = \"rw\"\n\n[[mount]]\nsource = \"in\"\ntarget = \"/sbx-in\"\n\n"
     << "[egress]\nallow = [" << toml_string(reg.host + ":" + std::to_string(reg.port));
  for (const auto& a : addresses) sf << ", { host = " << toml_string(a) << ", ports = [" << reg.port << "] }";
  sf << "]\n";
  if (auto w = write_file_atomic(stage / "Sandboxfile", sf.str(), supervisor::kPrivateFile); !w) return std::unexpected(w.error());

  say(o, "installing " + package.name + "@" + version + " into the agent layer, inside a build VM (npm install -g; "
             "its install scripts run there, never here; minutes under emulation)");
  const auto t0 = steady_clock::now();
  supervisor::SandboxPaths build_paths;
  const fs::path npm_log = stage / "npm.log";
  auto rc = run_build_sandbox(stage / "Sandboxfile", npm_log, o, build_paths);
  const std::string egress_failures = build_paths.dir.empty() ? std::string() : failures(build_paths.egress_log());
  if (!build_paths.dir.empty()) fs::remove_all(build_paths.dir, ec);
  if (!rc) return std::unexpected(rc.error());
  if (*rc != 0)
    return fail(ErrorCode::runtime,
                "npm install -g " + package.name + "@" + version + " failed in the build VM (exit " + std::to_string(*rc) +
                    "). npm said:\n" + read_tail(npm_log, 30) +
                    (egress_failures.empty() ? std::string() : "the egress log shows:\n" + egress_failures),
                "the build VM reaches only " + reg.host + " (from 'npm config get registry')");
  const std::string installed = SBX_TRY(image::installed_version(stage / "out" / "prefix", package.name));
  if (installed != version)
    return fail(ErrorCode::runtime, "npm installed " + package.name + "@" + installed + ", not " + version);
  const fs::path tar = layers / ("agent-" + id.substr(7, 32) + ".tar");
  const image::AgentLayerStats stats = SBX_TRY(image::pack_agent_layer(stage / "out" / "prefix", tar));
  sbx::log::get("image")->info("agent layer {}: {} entries ({} hard links), {} bytes, {} skipped, built in {:.1f} s", tar.string(),
                               stats.entries, stats.hardlinks, stats.bytes, stats.skipped,
                               duration<double>(steady_clock::now() - t0).count());
  const image::DevRecipe recipe = SBX_TRY(image::dev_recipe());
  const fs::path base = SBX_TRY(image::dev_base_layer(recipe, o));
  auto p = SBX_TRY(image::import_layer_tars({base, tar}, id, "agent", reference, o));
  image::write_ref(cache, key, {id, ""});
  say(o, "image " + reference + " " + id.substr(0, 19) + ": ready");
  return p;
}

}  // namespace sbx::reconcile
