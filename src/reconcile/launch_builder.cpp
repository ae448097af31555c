#include "reconcile/launch_builder.h"

#include <algorithm>

#include "reconcile/approval.h"
#include "reconcile/egress_apply.h"
#include "reconcile/agent_build.h"
#include "reconcile/sandbox_disk.h"
#include "reconcile/host_ca.h"

#include <cstdlib>

#include "common/run_tool.h"

#include "common/digest.h"
#include "common/log.h"
#include "common/paths.h"
#include "vmm/pvh_kernel.h"
#include "config/canonical.h"
#include "config/defaults.h"
#include "config/mount_check.h"
#include "config/names.h"
#include "guest/host/initramfs.h"
#include "guest/host/kernel.h"
#include "guest/host/modules_disk.h"
#include "guest/host/rootfs.h"
#include "guest/protocol/frame.h"
#include "image/dev_image.h"
#include "image/image.h"

namespace sbx::reconcile {
namespace fs = std::filesystem;

namespace {

// The root disk and config of a non-built-in image, imported (or reused) from the cache.
Result<void> prepare_image(const config::Sandboxfile& file, const Progress& progress, const image::ProgressSink& meter,
                           Artifacts& a) {
  image::ImportOptions options;
  options.progress = progress;
  options.meter = meter;
  // The dev image, with the agent's layer when the preset has a package (agent_build.h).
  auto prepared = file.image.kind != config::ImageKind::dev ? image::prepare_image(file.image, options)
                  : file.agent.package                      ? prepare_agent_image(*file.agent.package, options)
                                                            : image::prepare_dev_image(options);
  if (!prepared) {
    Error e = prepared.error();
    if (e.location.file.empty()) e.location = file.image.location;
    return std::unexpected(e);
  }
  if (!file.agent.user_given && !prepared->config.user.empty() && !image::valid_user_spec(prepared->config.user))
    return fail(ErrorCode::invalid, "the image's User '" + prepared->config.user.substr(0, 64) + "' is not a form sbx can run",
                "set [agent] user = \"...\" in the Sandboxfile (a name from the image's /etc/passwd)", file.image.location);
  a.root_disk = prepared->root_disk;
  a.image_id = prepared->id;
  a.image_env = prepared->config.env;
  a.image_user = prepared->config.user;
  a.image_workdir = prepared->config.working_dir;
  a.image_command = prepared->config.entrypoint;
  a.image_command.insert(a.image_command.end(), prepared->config.cmd.begin(), prepared->config.cmd.end());
  return {};
}

// [docker] enabled on an image without dockerd: refused at `sbx up`, not found out in the guest.
// The root disk is ext4 written by sbx; debugfs reads it without mounting anything.
Result<void> check_dockerd(const config::Sandboxfile& file, const Artifacts& a) {
  auto debugfs = SBX_TRY(find_tool("debugfs", "e2fsprogs"));
  for (const char* path : {"/usr/sbin/dockerd", "/usr/bin/dockerd"}) {
    auto r = SBX_TRY(run_tool({debugfs, "-R", std::string("stat ") + path, a.root_disk.string()}));
    if (r.status == 0 && r.output.find("Inode:") != std::string::npos) return {};
  }
  return fail(ErrorCode::invalid, "[docker] enabled, but the image " + file.image.reference + " has no dockerd (/usr/sbin/dockerd)",
              "remove [image] to use sbx's dev image (it carries Debian's docker.io, containerd and runc), or use an image with Docker installed",
              file.image.location.file.empty() ? file.docker.location : file.image.location);
}

}  // namespace

std::vector<std::string> agent_command(const config::Sandboxfile& file, const Artifacts& a) {
  if (!file.agent.command_given && !a.image_command.empty()) return a.image_command;
  return file.agent.command;
}

Result<Artifacts> prepare_artifacts(const config::Sandboxfile& file, const Progress& progress,
                                    const image::ProgressSink& meter) {
  auto kernel = SBX_TRY(guest::locate_kernel());
  Artifacts a;
  a.kernel = kernel.image;
  // PVH boot of the unpacked vmlinux is faster; the bzImage still boots where that fails.
  if (const char* pvh = std::getenv("SBX_PVH"); !(pvh && std::string_view(pvh) == "0")) {
    auto vmlinux = vmm::pvh_kernel(kernel.image, paths::cache_dir() / "kernels");
    if (vmlinux) a.kernel = *vmlinux;
    else sbx::log::get("reconcile")->debug("PVH boot not used: {}", vmlinux.error().message);
  }
  a.kernel_version = kernel.version;
  a.initramfs = SBX_TRY(guest::build_initramfs(kernel, progress));
  if (file.image.kind == config::ImageKind::builtin) a.root_disk = SBX_TRY(guest::build_default_rootfs(progress));
  else SBX_TRY_VOID(prepare_image(file, progress, meter, a));
  if (file.docker.enabled) {
    SBX_TRY_VOID(check_dockerd(file, a));
    a.modules_disk = SBX_TRY(guest::build_modules_disk(kernel, progress));
  }
  if (file.egress.trust_host_ca) {
    Result<HostCas> cas = collect_host_cas(host_ca_dirs());
    if (!cas) {
      Error e = cas.error();
      if (e.location.file.empty()) e.location = file.egress.location;
      return std::unexpected(e);
    }
    a.host_ca_pem = cas->pem;
    if (progress)
      progress(cas->certificates ? "the guest trusts " + std::to_string(cas->certificates) + " CA certificate(s) the host added ([egress] trust_host_ca)"
                                 : std::string("[egress] trust_host_ca: this host has no CA of its own (SBX_HOST_CA_DIR names where to look); the guest trusts its image's bundle"));
  }
  return a;
}

std::string desired_digest(const config::Sandboxfile& file, const Artifacts& a,
                           const supervisor::SandboxPaths& paths) {
  return make_launch(file, a, paths).digest;
}

std::vector<std::string> protected_paths(const config::Sandboxfile& file, const std::filesystem::path& source) {
  std::vector<std::string> out = default_protect();
  out.insert(out.end(), file.protect.begin(), file.protect.end());
  // The Sandboxfile and .sbx of this project where a mount of a directory above it holds them.
  const auto rel = file.project_dir.lexically_normal().lexically_relative(source.lexically_normal());
  if (!rel.empty() && rel != "." && *rel.begin() != "..")
    for (const char* leaf : {"Sandboxfile", ".sbx"}) out.push_back((rel / leaf).string());
  if (file.file.filename() != "Sandboxfile" && file.file.parent_path() == source.lexically_normal())
    out.push_back(file.file.filename().string());  // a Sandboxfile loaded under another name
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

supervisor::Launch make_launch(const config::Sandboxfile& file, const Artifacts& a,
                               const supervisor::SandboxPaths& paths, const std::vector<proxy::HostPin>& pins) {
  supervisor::Launch l;
  l.name = file.name;
  auto& m = l.machine;
  m.name = file.name;
  m.kernel = a.kernel;
  m.initramfs = a.initramfs;
  m.cmdline = "quiet";  // the serial console is slow under emulation; panics still print
  m.memory_bytes = file.resources.memory_bytes ? file.resources.memory_bytes : config::kDefaultMemoryBytes;
  m.cpus = file.resources.cpus ? file.resources.cpus : config::kDefaultCpus;
  m.disks.push_back({a.root_disk, true});
  // The sandbox disk holds the overlay's writable layer; the guest finds it by its serial.
  m.disks.push_back({paths.disk(), false, std::string(kDiskSerial)});
  m.cmdline += " sbx.disk=" + std::string(kDiskSerial);
  if (file.docker.enabled && !a.modules_disk.empty()) {
    // The kernel's module tree, for dockerd's modprobe of bridge, veth, nf_tables and the rest.
    m.disks.push_back({a.modules_disk, true, std::string(guest::kModulesDiskSerial)});
    m.cmdline += " sbx.modules=" + std::string(guest::kModulesDiskSerial);
    l.guest_config.docker = true;
    l.guest_config.docker_insecure_registries = file.docker.insecure_registries;
  }
  m.channels.push_back({std::string(guest::protocol::kPortName), paths.channel()});
  m.console_log = paths.console_log();
  m.runtime_dir = paths.dir;
  // The guest mounts in this order: outer targets before the ones nested in them.
  const auto mounts = config::mount_order(file.mounts);
  for (size_t i = 0; i < mounts.size(); ++i) {
    const auto& mount = mounts[i];
    const std::string tag = "sbx" + std::to_string(i);
    vmm::Share share{tag, paths.dir / ("fs" + std::to_string(i) + ".sock"), mount.source, !mount.writable};
    share.cache = mount.cache == config::MountCache::always ? vmm::ShareCache::always : vmm::ShareCache::auto_;
    if (mount.writable) share.protect = protected_paths(file, mount.source);
    m.shares.push_back(std::move(share));
    l.guest_config.mounts.push_back({tag, mount.target, !mount.writable, mount.local});
  }
  l.guest_config.hostname = "sbx-" + file.name;
  // The image's Env below the Sandboxfile's; its User and WorkingDir unless the file names them.
  for (const auto& kv : a.image_env) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string name = kv.substr(0, eq);
    // sbx points the proxy variables at its egress proxy; an image may not redirect or bypass it.
    if (config::is_reserved_env_name(name)) continue;
    l.guest_config.env[name] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : file.agent.env) l.guest_config.env[k] = v;
  l.guest_config.user = file.agent.user_given || a.image_user.empty() ? (file.agent.user.empty() ? std::string(config::kDefaultUser) : file.agent.user)
                                                                      : a.image_user;
  l.guest_config.workdir = file.agent.workdir_given || a.image_workdir.empty() ? file.agent.workdir : a.image_workdir;
  if (l.guest_config.workdir->empty()) l.guest_config.workdir.reset();
  for (const auto& p : file.ports) l.ports.push_back({p.host_address, p.host_port, p.guest_port});
  l.host_ca_pem = a.host_ca_pem;
  // inject = "env": names only; the supervisor adds the values to the CONFIG it sends.
  for (const auto& s : file.secrets)
    if (s.inject == config::InjectKind::env) l.env_secrets.push_back({s.name, s.env_var});
  // Everything the machine is made of: the canonical Sandboxfile plus the launch itself (cached
  // artifacts are named by their content digest, so their paths stand for their content).
  l.digest = digest::sha256(config::digest(file) + "\n" + supervisor::launch_to_json(l));
  set_egress(l, file, paths, pins);  // [egress] gets its own digest: a rules-only change is a hot update
  return l;
}

}  // namespace sbx::reconcile
