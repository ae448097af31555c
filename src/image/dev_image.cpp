#include "image/dev_image.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <unistd.h>

#include "common/digest.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/run_tool.h"
#include "image/build_lock.h"
#include "image/cache.h"
#include "image/progress.h"

namespace sbx::image {
namespace fs = std::filesystem;

namespace {

// The packages of the agents issue's recipe (git, curl, ..., ripgrep), on top of mmdebstrap's apt
// variant; then Docker inside the sandbox (docker.io, containerd, runc, docker-compose) and kmod,
// whose modprobe loads the kernel modules dockerd needs. One image for both, so agents and Docker
// share one cached build.
const std::vector<std::string> kPackages = {"git",   "curl",  "ca-certificates", "openssh-client", "python3", "nodejs", "npm",
                                            "build-essential", "sudo", "procps", "less", "jq", "ripgrep",
                                            "docker.io", "containerd", "runc", "docker-compose", "kmod"};

// Run inside the new root by mmdebstrap: the agent user (uid 1000) with password-less sudo, in the
// docker group (docker.io's postinst made it) so it may use the sandbox's own daemon.
// Bumping kBuildSteps rebuilds every dev image (it is part of the recipe digest).
constexpr const char* kBuildSteps = "sbx-dev-image-3";
constexpr const char* kCustomize =
    "chroot \"$1\" useradd -m -u 1000 -U -G sudo,docker -s /bin/bash agent && "
    "echo 'agent ALL=(ALL:ALL) NOPASSWD: ALL' > \"$1/etc/sudoers.d/agent\" && chmod 0440 \"$1/etc/sudoers.d/agent\"";

fs::path cache_of(const ImportOptions& o) { return o.cache_dir.empty() ? paths::cache_dir() : o.cache_dir; }

void say(const ImportOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string DevRecipe::digest() const {
  digest::Sha256 h;
  h.update(std::string(kBuildSteps) + "\n" + kCustomize + "\n" + suite + "\n");
  for (const auto& p : packages) h.update(p + "\n");
  h.update(sources_text);
  return "sha256:" + h.hex();
}

fs::path layers_dir(const fs::path& cache) { return images_dir(cache) / "layers"; }

Result<DevRecipe> dev_recipe() {
  DevRecipe r;
  r.packages = kPackages;
  std::vector<fs::path> files;
  if (const char* one = std::getenv("SBX_APT_SOURCES"); one && *one) {
    files.push_back(one);
  } else {
    std::error_code ec;
    if (fs::is_regular_file("/etc/apt/sources.list", ec)) files.push_back("/etc/apt/sources.list");
    std::vector<fs::path> parts;
    for (const auto& e : fs::directory_iterator("/etc/apt/sources.list.d", ec)) {
      const std::string ext = e.path().extension().string();
      if ((ext == ".list" || ext == ".sources") && e.is_regular_file()) parts.push_back(e.path());
    }
    std::sort(parts.begin(), parts.end());
    files.insert(files.end(), parts.begin(), parts.end());
  }
  for (const auto& f : files) {
    std::string text = read_all(f);
    // A file of comments only is one apt ignores; mmdebstrap would paste it as nothing.
    bool any = false;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
      const auto start = l.find_first_not_of(" \t");
      if (start != std::string::npos && l[start] != '#') any = true;
    }
    if (!any) continue;
    r.sources.push_back(f);
    r.sources_text += "# " + f.string() + "\n" + text + "\n";
  }
  if (r.sources.empty())
    return fail(ErrorCode::not_found, "this host has no apt sources to build the dev image from",
                "sbx builds it with mmdebstrap from /etc/apt/sources.list(.d); configure apt, or set SBX_APT_SOURCES to a sources file");
  return r;
}

Result<fs::path> dev_base_layer(const DevRecipe& recipe, const ImportOptions& o) {
  const fs::path cache = cache_of(o);
  const std::string id = recipe.digest();
  const fs::path dir = layers_dir(cache);
  const fs::path tar = dir / ("dev-" + id.substr(7, 32) + ".tar");
  std::error_code ec;
  if (fs::is_regular_file(tar, ec)) return tar;
  SBX_TRY_VOID(paths::ensure_private_dir(cache));
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::io, "cannot create " + dir.string() + ": " + ec.message());
  const std::string tool = SBX_TRY(find_tool("mmdebstrap", "mmdebstrap"));
  std::string include;
  for (const auto& p : recipe.packages) include += (include.empty() ? "" : ",") + p;
  const fs::path part = dir / ("." + tar.filename().string() + "." + std::to_string(::getpid()));
  std::vector<std::string> argv = {tool, "--variant=apt", "--format=tar", "--include=" + include,
                                   std::string("--customize-hook=") + kCustomize, recipe.suite, part.string()};
  // As root the chroot is built directly; otherwise mmdebstrap uses a user namespace.
  argv.insert(argv.begin() + 1, ::geteuid() == 0 ? "--mode=root" : "--mode=unshare");
  for (const auto& s : recipe.sources) argv.push_back(s.string());
  say(o, "building the dev image (Debian " + recipe.suite + ", " + std::to_string(recipe.packages.size()) +
             " packages) with mmdebstrap from this host's apt sources; once per recipe, a few minutes");
  const auto t0 = std::chrono::steady_clock::now();
  // One bar step per mmdebstrap phase: it reports phases, not bytes.
  static constexpr const char* kPhases[] = {"running apt-get update", "downloading packages", "extracting archives",
                                            "installing essential packages", "installing remaining packages",
                                            "running --customize-hook", "creating tarball"};
  constexpr std::uint64_t kSteps = std::size(kPhases) + 1;
  ProgressMeter meter(o.meter, "dev image (mmdebstrap)", kSteps, "phases");
  std::string tail;
  const int rc = SBX_TRY(run_tool_lines(argv, [&](const std::string& l) {
    sbx::log::get("image")->debug("mmdebstrap: {}", l);
    for (std::uint64_t i = 0; i < std::size(kPhases); ++i)
      if (l.find(kPhases[i]) != std::string::npos) {
        meter.update(i + 1);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        say(o, "dev image: " + std::string(kPhases[i]) + " (" + std::to_string(static_cast<int>(s)) + " s)");
      }
  }, tail));
  meter.finish();
  if (rc != 0) {
    fs::remove(part, ec);
    return fail(ErrorCode::runtime, "mmdebstrap failed (exit " + std::to_string(rc) + ") building the dev image:\n" + tail,
                "check the host's apt sources and that apt-get update works; install mmdebstrap with 'apt-get install mmdebstrap'");
  }
  fs::rename(part, tar, ec);
  if (ec) return fail(ErrorCode::io, "cannot move " + part.string() + " to " + tar.string() + ": " + ec.message());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sbx::log::get("image")->info("dev base layer {} built in {:.1f} s", tar.string(), s);
  return tar;
}

Result<PreparedImage> prepare_dev_image(const ImportOptions& o) {
  const fs::path cache = cache_of(o);
  const DevRecipe recipe = SBX_TRY(dev_recipe());
  const std::string id = recipe.digest();
  const auto cached = [&]() -> std::optional<PreparedImage> {
    auto hit = lookup(cache, id);
    if (!hit) return std::nullopt;
    note_use(cache, id, "dev");
    say(o, "image dev " + id.substr(0, 19) + ": cached");
    return *hit;
  };
  if (auto hit = cached()) return *hit;
  // A second sbx that needs the same dev image waits for the first one's build, then uses it.
  const BuildLock lock = SBX_TRY(BuildLock::acquire(layers_dir(cache), "dev-" + id.substr(7, 32), "the dev image",
                                                     std::chrono::seconds(3600), o.progress));
  if (auto hit = cached()) return *hit;  // the other process built it meanwhile
  const fs::path base = SBX_TRY(dev_base_layer(recipe, o));
  // The image id is the recipe's digest: the same recipe always names the same image.
  auto p = SBX_TRY(import_layer_tars({base}, id, "dev", "dev", o));
  say(o, "image dev " + id.substr(0, 19) + ": ready");
  return p;
}

}  // namespace sbx::image
