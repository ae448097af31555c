#pragma once
// Turning a resolved Sandboxfile into what a supervisor runs: guest artifacts (kernel,
// initramfs, root disk) built or reused from the cache, the machine spec and the guest CONFIG.
#include <functional>
#include <string_view>

#include "common/error.h"
#include "config/sandboxfile.h"
#include "image/progress.h"
#include "supervisor/launch.h"
#include "supervisor/state.h"

namespace sbx::reconcile {

/// The guest artifacts of one desired state.
struct Artifacts {
  std::filesystem::path kernel;
  std::filesystem::path initramfs;
  std::filesystem::path root_disk;
  std::string kernel_version;
  // The image's config (empty for the built-in image); the Sandboxfile wins where it says.
  std::string image_id;                      // "sha256:..." ("" for the built-in image)
  std::vector<std::string> image_env;        // "KEY=VALUE"
  std::string image_user, image_workdir;
  std::vector<std::string> image_command;    // Entrypoint + Cmd
  std::string host_ca_pem;                   // [egress] trust_host_ca: the host's added CAs (host_ca.h)
  std::filesystem::path modules_disk;        // [docker] enabled: the kernel's module tree (modules_disk.h)
};

/// Human progress lines ("building root disk ...").
using Progress = std::function<void(std::string_view)>;

/// Locate the kernel and build (or reuse) the initramfs and the root disk for `file`; an image
/// import reports its byte progress to `meter`.
Result<Artifacts> prepare_artifacts(const config::Sandboxfile& file, const Progress& progress,
                                    const image::ProgressSink& meter = {});

/// The digest `sbx up` compares: the Sandboxfile's canonical digest plus the whole launch.
std::string desired_digest(const config::Sandboxfile& file, const Artifacts& artifacts,
                           const supervisor::SandboxPaths& paths);

/// The agent's argv: the Sandboxfile's command when it names one, else the image's
/// Entrypoint + Cmd, else the preset's default.
std::vector<std::string> agent_command(const config::Sandboxfile& file, const Artifacts& artifacts);

/// The launch description for `file` in the state directory `paths`; `pins` (SBX_EGRESS_RESOLVE)
/// go to its egress proxy.
supervisor::Launch make_launch(const config::Sandboxfile& file, const Artifacts& artifacts,
                               const supervisor::SandboxPaths& paths, const std::vector<proxy::HostPin>& pins = {});

/// The paths a read-write mount of `source` keeps read-only in the guest: default_protect(),
/// the file's `protect` list, and this project's Sandboxfile and .sbx where `source` holds them.
std::vector<std::string> protected_paths(const config::Sandboxfile& file, const std::filesystem::path& source);

}  // namespace sbx::reconcile
