#include "reconcile/launch_builder.h"

#include <cstdlib>

#include "common/digest.h"
#include "common/log.h"
#include "common/paths.h"
#include "vmm/pvh_kernel.h"
#include "config/canonical.h"
#include "guest/host/initramfs.h"
#include "guest/host/kernel.h"
#include "guest/host/rootfs.h"
#include "guest/protocol/frame.h"

namespace sbx::reconcile {
namespace fs = std::filesystem;

Result<Artifacts> prepare_artifacts(const config::Sandboxfile& file, const Progress& progress) {
  if (file.image.kind != config::ImageKind::builtin)
    return fail(ErrorCode::invalid, "image '" + file.image.reference + "' is not supported yet: only the built-in image boots today",
                "set [image] ref = \"builtin\"", file.image.location);
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
  a.root_disk = SBX_TRY(guest::build_default_rootfs(progress));
  return a;
}

std::string desired_digest(const config::Sandboxfile& file, const Artifacts& a,
                           const supervisor::SandboxPaths& paths) {
  return make_launch(file, a, paths).digest;
}

supervisor::Launch make_launch(const config::Sandboxfile& file, const Artifacts& a,
                               const supervisor::SandboxPaths& paths) {
  supervisor::Launch l;
  l.name = file.name;
  auto& m = l.machine;
  m.name = file.name;
  m.kernel = a.kernel;
  m.initramfs = a.initramfs;
  m.cmdline = "quiet";  // the serial console is slow under emulation; panics still print
  m.memory_bytes = file.resources.memory_bytes ? file.resources.memory_bytes : kDefaultMemory;
  m.cpus = file.resources.cpus ? file.resources.cpus : 1;
  m.disks.push_back({a.root_disk, true});
  m.channels.push_back({std::string(guest::protocol::kPortName), paths.channel()});
  m.console_log = paths.console_log();
  m.runtime_dir = paths.dir;
  for (size_t i = 0; i < file.mounts.size(); ++i) {
    const auto& mount = file.mounts[i];
    const std::string tag = "sbx" + std::to_string(i);
    m.shares.push_back({tag, paths.dir / ("fs" + std::to_string(i) + ".sock"), mount.source, !mount.writable});
    l.guest_config.mounts.push_back({tag, mount.target, !mount.writable});
  }
  l.guest_config.hostname = "sbx-" + file.name;
  l.guest_config.env = file.agent.env;
  // Everything the machine is made of: the canonical Sandboxfile plus the launch itself (cached
  // artifacts are named by their content digest, so their paths stand for their content).
  l.digest = digest::sha256(config::digest(file) + "\n" + supervisor::launch_to_json(l));
  return l;
}

}  // namespace sbx::reconcile
