#pragma once
// PID 1 bring-up: modules, pseudo filesystems, the root disk overlay, loopback, the port.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "guest/protocol/messages.h"

namespace sbx::guest::agent {

/// Mount /dev (devtmpfs) first and point fds 0-2 at /dev/console.
void setup_console();
/// Mount /proc, /sys, /tmp, /run in the initramfs.
void mount_early();
/// Load the modules listed in /lib/modules/sbx.order (finit_module), in order.
void load_modules();
/// Open the modules listed in /lib/modules/sbx.late (before the initramfs goes out of reach).
std::vector<int> open_late_modules();
/// On a thread: load the late modules, then watch the ACPI power button and send SIGPWR to
/// PID 1 when it is pressed (QMP system_powerdown), so a wedged channel still shuts down cleanly.
void start_power_button_watch(std::vector<int> module_fds);
/// Mount /dev/vda read-only under an overlay whose writable layer is the sandbox disk (serial
/// sbx.disk=SERIAL on the kernel command line) or a tmpfs, and switch into it (mount move + chroot).
/// Returns false (and stays in the initramfs) if there is no usable root disk.
bool switch_root();
/// Bring the loopback interface up (127.0.0.1).
void loopback_up();
/// Set the hostname.
void set_hostname(const std::string& name);
/// The value of `key=` on the kernel command line ("" when absent).
std::string cmdline_value(std::string_view key);
/// The virtio-blk device whose serial is `serial` (/sys/block/vd*/serial), waiting up to
/// `timeout_ms` for it to appear; "" when there is none.
std::string find_disk(const std::string& serial, int timeout_ms);
/// Path of the virtio-serial port named `name`, waiting up to `timeout_ms`; empty if absent.
std::string find_port(std::string_view name, int timeout_ms);
/// Mount a virtio-fs share; returns an error message, empty on success.
std::string mount_share(const protocol::MountSpec& m);
/// sync, then power the machine off (never returns).
[[noreturn]] void power_off(bool reboot);

}  // namespace sbx::guest::agent
