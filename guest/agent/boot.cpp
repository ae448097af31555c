#include "guest/agent/boot.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <csignal>
#include <fstream>
#include <linux/input.h>
#include <thread>
#include <net/if.h>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest/agent/console.h"
#include "common/errno_text.h"

namespace sbx::guest::agent {
namespace {


void do_mount(const char* src, const char* target, const char* type, unsigned long flags, const char* data) {
  ::mkdir(target, 0755);
  if (::mount(src, target, type, flags, data) != 0 && errno != EBUSY)
    say(std::string("mount ") + type + " on " + target + " failed: " + errno_text());
}

bool wait_for(const char* path, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    if (::access(path, F_OK) == 0) return true;
    ::usleep(5000);
  }
  return false;
}

// A larger [resources] disk only grows the host's file: grow the mounted file system to the
// whole device (ext4 online resize; nothing to do when it already fills it). The host never
// touches a file system the guest wrote.
void grow_to_device(const std::string& dev) {
  constexpr unsigned long kExt4ResizeFs = _IOW('f', 16, std::uint64_t);  // EXT4_IOC_RESIZE_FS
  std::uint64_t dev_bytes = 0;
  struct statfs fs_info {};
  const int dev_fd = ::open(dev.c_str(), O_RDONLY | O_CLOEXEC);
  const bool sized = dev_fd >= 0 && ::ioctl(dev_fd, BLKGETSIZE64, &dev_bytes) == 0;
  if (dev_fd >= 0) ::close(dev_fd);
  if (!sized || ::statfs("/run/rw", &fs_info) != 0 || fs_info.f_bsize <= 0) return;
  std::uint64_t blocks = dev_bytes / static_cast<std::uint64_t>(fs_info.f_bsize);
  const int dir = ::open("/run/rw", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  if (::ioctl(dir, kExt4ResizeFs, &blocks) != 0)
    say("cannot grow the sandbox disk's file system to " + std::to_string(dev_bytes >> 20) + " MiB: " + errno_text());
  ::close(dir);
}

// The writable layer of the root overlay on /run/rw: the sandbox disk when the host gave one
// (sbx.disk=SERIAL on the command line), else a tmpfs in RAM.
void mount_writable_layer() {
  ::mkdir("/run/rw", 0755);
  const std::string serial = cmdline_value("sbx.disk");
  if (!serial.empty()) {
    const std::string dev = find_disk(serial, 5000);
    // discard: what the guest deletes is given back to the host (the disk file is sparse).
    if (dev.empty())
      say("no sandbox disk with serial " + serial + "; the writable layer is in RAM");
    else if (::mount(dev.c_str(), "/run/rw", "ext4", MS_NODEV, "discard") != 0)
      say("cannot mount the sandbox disk " + dev + " (ext4): " + errno_text() + "; the writable layer is in RAM");
    else {
      say("sandbox disk " + dev + " mounted: the writable layer persists");
      grow_to_device(dev);
      return;
    }
  }
  do_mount("tmpfs", "/run/rw", "tmpfs", MS_NODEV, "mode=0755");
}

}  // namespace

// The value of `key=` on the kernel command line ("" when absent).
std::string cmdline_value(std::string_view key) {
  std::ifstream f("/proc/cmdline");
  std::string word;
  while (f >> word)
    if (word.size() > key.size() && word.compare(0, key.size(), key) == 0 && word[key.size()] == '=')
      return word.substr(key.size() + 1);
  return {};
}

// The virtio-blk device whose serial is `serial` (/sys/block/vd*/serial), waiting up to
// `timeout_ms` for it to appear; "" when there is none.
std::string find_disk(const std::string& serial, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    if (DIR* d = ::opendir("/sys/block")) {
      std::string found;
      while (dirent* e = ::readdir(d)) {
        if (std::strncmp(e->d_name, "vd", 2) != 0) continue;
        std::ifstream f(std::string("/sys/block/") + e->d_name + "/serial");
        std::string s;
        std::getline(f, s);
        if (s == serial) found = std::string("/dev/") + e->d_name;
      }
      ::closedir(d);
      if (!found.empty() && ::access(found.c_str(), F_OK) == 0) return found;
    }
    ::usleep(5000);
  }
  return {};
}

void setup_console() {
  ::mkdir("/dev", 0755);
  ::mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  int fd = ::open("/dev/console", O_RDWR | O_NOCTTY);
  if (fd >= 0) {
    for (int i = 0; i < 3; ++i)
      if (fd != i) ::dup2(fd, i);
    if (fd > 2) ::close(fd);
  }
}

void mount_early() {
  do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  do_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  do_mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
}

void load_modules() {
  std::ifstream order("/lib/modules/sbx.order");
  std::string name;
  int loaded = 0;
  while (std::getline(order, name)) {
    if (name.empty() || name.find('/') != std::string::npos) continue;
    std::string path = "/lib/modules/" + name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      say("module " + name + ": cannot open: " + errno_text());
      continue;
    }
    if (::syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
      say("module " + name + ": finit_module failed: " + errno_text());
    else
      ++loaded;
    ::close(fd);
  }
  say("loaded " + std::to_string(loaded) + " kernel modules");
}

bool switch_root() {
  if (!wait_for("/dev/vda", 5000)) {
    say("no root disk /dev/vda; staying in the initramfs");
    return false;
  }
  ::mkdir("/run/lower", 0755);
  if (::mount("/dev/vda", "/run/lower", "ext4", MS_RDONLY | MS_NODEV, "noload") != 0 &&
      ::mount("/dev/vda", "/run/lower", "ext4", MS_RDONLY | MS_NODEV, nullptr) != 0) {
    say("cannot mount /dev/vda (ext4, read-only): " + errno_text());
    return false;
  }
  mount_writable_layer();
  ::mkdir("/run/rw/upper", 0755);
  ::mkdir("/run/rw/work", 0755);
  if (::mount("overlay", "/newroot", "overlay", 0,
              "lowerdir=/run/lower,upperdir=/run/rw/upper,workdir=/run/rw/work") != 0) {
    say("overlay mount failed (" + errno_text() + "); using the root disk read-only");
    if (::mount("/run/lower", "/newroot", nullptr, MS_BIND, nullptr) != 0) return false;
  }
  // Move the pseudo filesystems into the new root, then make it "/" (what switch_root does).
  for (const char* m : {"/dev", "/proc", "/sys", "/run"}) {
    std::string target = std::string("/newroot") + m;
    ::mkdir(target.c_str(), 0755);
    if (::mount(m, target.c_str(), nullptr, MS_MOVE, nullptr) != 0)
      say(std::string("cannot move ") + m + ": " + errno_text());
  }
  if (::chdir("/newroot") != 0 || ::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0 || ::chroot(".") != 0 ||
      ::chdir("/") != 0) {
    say("switching to the root disk failed: " + errno_text());
    return false;
  }
  do_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666,gid=5");
  do_mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  return true;
}

std::vector<int> open_late_modules() {
  std::vector<int> fds;
  std::ifstream order("/lib/modules/sbx.late");
  std::string name;
  while (std::getline(order, name)) {
    if (name.empty() || name.find('/') != std::string::npos) continue;
    int fd = ::open(("/lib/modules/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) fds.push_back(fd);
  }
  return fds;
}

void start_power_button_watch(std::vector<int> module_fds) {
  std::thread([fds = std::move(module_fds)] {
    for (int fd : fds) {
      if (::syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
        say(std::string("late module: finit_module failed: ") + errno_text());
      ::close(fd);
    }
    // The ACPI button driver registers an input device named "Power Button".
    std::string dev;
    for (int waited = 0; waited < 3000 && dev.empty(); waited += 20) {
      if (DIR* d = ::opendir("/sys/class/input")) {
        while (dirent* e = ::readdir(d)) {
          if (std::strncmp(e->d_name, "event", 5) != 0) continue;
          std::ifstream f(std::string("/sys/class/input/") + e->d_name + "/device/name");
          std::string n;
          std::getline(f, n);
          if (n == "Power Button" && ::access((std::string("/dev/input/") + e->d_name).c_str(), F_OK) == 0)
            dev = std::string("/dev/input/") + e->d_name;
        }
        ::closedir(d);
      }
      if (dev.empty()) ::usleep(20000);
    }
    if (dev.empty()) return;  // no ACPI power button on this machine
    int fd = ::open(dev.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    input_event ev{};
    while (::read(fd, &ev, sizeof ev) == static_cast<ssize_t>(sizeof ev)) {
      if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1) {
        say("ACPI power button pressed");
        ::kill(1, SIGPWR);
      }
    }
  }).detach();
}

void loopback_up() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    say("loopback: socket failed: " + errno_text());
    return;
  }
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) say("loopback: SIOCSIFFLAGS failed: " + errno_text());
  } else {
    say("loopback: SIOCGIFFLAGS failed: " + errno_text());
  }
  ::close(s);
}

void set_hostname(const std::string& name) {
  if (::sethostname(name.data(), name.size()) != 0) say("sethostname failed: " + errno_text());
}

std::string find_port(std::string_view name, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    if (DIR* d = ::opendir("/sys/class/virtio-ports")) {
      std::string found;
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream f(std::string("/sys/class/virtio-ports/") + e->d_name + "/name");
        std::string n;
        std::getline(f, n);
        if (n == name) found = std::string("/dev/") + e->d_name;
      }
      ::closedir(d);
      if (!found.empty() && ::access(found.c_str(), F_OK) == 0) return found;
    }
    ::usleep(5000);
  }
  return {};
}

std::string mount_share(const protocol::MountSpec& m) {
  // mkdir -p the target (it lives on the writable overlay).
  std::string path;
  std::istringstream parts(m.target);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    path += "/" + part;
    ::mkdir(path.c_str(), 0755);
  }
  unsigned long flags = MS_NODEV | MS_NOSUID | (m.readonly ? MS_RDONLY : 0);
  if (::mount(m.tag.c_str(), m.target.c_str(), "virtiofs", flags, nullptr) != 0)
    return "mount virtio-fs " + m.tag + " on " + m.target + ": " + errno_text();
  return {};
}

void power_off(bool reboot) {
  ::sync();
  // The sandbox disk outlives the VM: leave its file system clean, not only synced (a tmpfs or
  // an initramfs without /run/rw answers EINVAL or ENOENT: nothing to do).
  if (::mount(nullptr, "/run/rw", nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0 && errno != EINVAL && errno != ENOENT)
    say("cannot remount the writable layer read-only: " + errno_text());
  say(reboot ? "rebooting" : "powering off");
  ::reboot(reboot ? RB_AUTOBOOT : RB_POWER_OFF);
  // reboot() only returns on failure; PID 1 must not exit (kernel panic), so halt here.
  say("reboot() failed: " + errno_text());
  for (;;) ::pause();
}

}  // namespace sbx::guest::agent
