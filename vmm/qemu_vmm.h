#pragma once
// The QEMU microvm backend of Vmm.
#include <memory>
#include <optional>

#include "vmm/qemu_argv.h"
#include "vmm/qmp_client.h"
#include "vmm/vmm.h"

namespace sbx::vmm {

class QemuVmm final : public Vmm {
 public:
  explicit QemuVmm(QemuOptions options) : options_(std::move(options)) {}
  ~QemuVmm() override;

  Result<void> start(const MachineSpec& spec) override;
  Result<void> request_poweroff() override;
  Result<Exit> wait(std::chrono::milliseconds timeout) override;
  void kill() override;
  Result<std::string> status() override;
  pid_t pid() const override { return pid_; }
  int process_fd() const override { return pidfd_; }
  Result<std::optional<Exit>> try_reap() override;
  std::string accelerator() const override { return accel_name(options_.accel); }
  std::filesystem::path log_file() const override { return qemu_log(); }

  /// The backend settings (accelerator, binary).
  const QemuOptions& options() const { return options_; }
  /// QEMU's own stdout/stderr (errors about arguments land here).
  std::filesystem::path qemu_log() const { return runtime_dir_ / "qemu.log"; }

 private:
  QemuOptions options_;
  std::filesystem::path runtime_dir_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<QmpClient> qmp_;
  std::optional<Exit> exit_;
  /// A virtiofsd process, stopped (and its socket removed) with the machine.
  struct Helper {
    pid_t pid = -1;  // -1 once reaped
    std::filesystem::path source, socket, log;
  };
  std::vector<Helper> helpers_;
  void stop_helpers();
};

/// A QemuVmm with the accelerator chosen for this host (the warning, if any, goes to `warning`).
std::unique_ptr<QemuVmm> make_qemu_vmm(std::string* warning);

}  // namespace sbx::vmm
