#include "guest_vm.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/host/initramfs.h"
#include "guest/host/kernel.h"
#include "guest/host/rootfs.h"

namespace sbx::guest::test {
namespace fs = std::filesystem;
namespace p = sbx::guest::protocol;
using namespace std::chrono;

namespace {
fs::path cache_root() {
  if (const char* d = std::getenv("SBX_TEST_CACHE")) return d;
  return fs::temp_directory_path() / "sbx-guest-test-cache";
}
}  // namespace

long host_cpu_khz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return static_cast<long>(std::strtod(line.c_str() + colon + 1, nullptr) * 1000);
    }
  }
  return 0;
}

Images build_images() {
  auto kernel = locate_kernel();
  if (!kernel) throw std::runtime_error(kernel.error().message);
  auto agent = agent_binary();
  if (!agent) throw std::runtime_error(agent.error().message);
  auto initramfs = build_initramfs(*kernel, *agent, cache_root());
  if (!initramfs) throw std::runtime_error(initramfs.error().message);
  auto rootfs = build_default_rootfs(cache_root(), {});
  if (!rootfs) throw std::runtime_error(rootfs.error().message);
  return Images{kernel->image, *initramfs, *rootfs};
}

GuestVm::GuestVm(const Images& images, std::string extra_append, fs::path share_dir) {
  char tmpl[] = "/tmp/sbx-guest-vm-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  std::string append = "console=ttyS0 pci=off quiet panic=-1";
  if (long khz = host_cpu_khz(); khz > 0) append += " tsc_early_khz=" + std::to_string(khz);
  if (!extra_append.empty()) append += " " + extra_append;
  argv_ = {"qemu-system-x86_64",
           "-M", "microvm,acpi=on",
           "-accel", "tcg,tb-size=16",
           "-m", "256",
           "-smp", "1",
           "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
           "-serial", "file:" + (dir_ / "console.log").string(),
           "-kernel", images.kernel.string(),
           "-initrd", images.initramfs.string(),
           "-append", append,
           "-global", "virtio-mmio.force-legacy=false",
           "-device", "virtio-serial-device",
           "-chardev", "socket,path=" + (dir_ / "ctl.sock").string() + ",server=on,wait=off,id=c0",
           "-device", "virtserialport,chardev=c0,name=sbx.ctl",
           "-drive", "id=root,file=" + images.rootfs.string() + ",format=raw,if=none,readonly=on",
           "-device", "virtio-blk-device,drive=root",
           "-qmp", "unix:" + (dir_ / "qmp.sock").string() + ",server=on,wait=off"};
  if (!share_dir.empty()) {
    // virtio-fs needs guest RAM as a shared memfd and modern virtio-mmio (DESIGN.md).
    std::string vfs_sock = (dir_ / "vfs.sock").string();
    virtiofsd_pid_ = ::fork();
    if (virtiofsd_pid_ == 0) {
      int log = ::open((dir_ / "virtiofsd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execl("/usr/lib/qemu/virtiofsd", "virtiofsd", ("--socket-path=" + vfs_sock).c_str(), "-o",
              ("source=" + share_dir.string()).c_str(), "-o", "cache=none", "-o", "sandbox=chroot", nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !fs::exists(vfs_sock); ++i) ::usleep(10000);
    argv_[2] = "microvm,acpi=on,memory-backend=mem";
    for (const char* a : {"-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-chardev"}) argv_.push_back(a);
    argv_.push_back("socket,id=vfs,path=" + vfs_sock);
    argv_.push_back("-device");
    argv_.push_back("vhost-user-fs-device,chardev=vfs,tag=share");
  }
  std::vector<char*> args;
  for (auto& a : argv_) args.push_back(a.data());
  args.push_back(nullptr);
  started_ = steady_clock::now();
  pid_ = ::fork();
  if (pid_ == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    int log = ::open((dir_ / "qemu.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
}

GuestVm::~GuestVm() {
  disconnect();
  for (int pid : {pid_, virtiofsd_pid_}) {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  std::error_code ec;
  if (!std::getenv("SBX_TEST_KEEP")) fs::remove_all(dir_, ec);
}

bool GuestVm::connect(milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  std::string path = (dir_ / "ctl.sock").string();
  while (steady_clock::now() < deadline) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      fd_ = fd;
      decoder_ = p::Decoder();
      return true;
    }
    ::close(fd);
    if (pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    ::usleep(5000);
  }
  return false;
}

void GuestVm::disconnect() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<p::Frame> GuestVm::recv(milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  while (true) {
    if (auto f = decoder_.next()) return f;
    if (decoder_.failed()) {
      last_error_ = "protocol error from guest: " + decoder_.error();
      return std::nullopt;
    }
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0 || fd_ < 0) {
      last_error_ = fd_ < 0 ? "not connected" : "timed out waiting for a frame";
      return std::nullopt;
    }
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
    char buf[65536];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) {
      last_error_ = "the guest closed the channel";
      return std::nullopt;
    }
    decoder_.feed(buf, static_cast<std::size_t>(n));
  }
}

void GuestVm::send_raw(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size() && fd_ >= 0) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

void GuestVm::send(const p::Frame& f) { send_raw(p::encode(f)); }

std::optional<p::Hello> GuestVm::handshake(const p::Config& config) {
  // As PROTOCOL.md asks of the host: an empty HELLO now and every second until the guest's
  // HELLO arrives; frames before it belong to an old session and are skipped.
  std::optional<p::Frame> f;
  auto deadline = steady_clock::now() + seconds(60);
  while (steady_clock::now() < deadline) {
    send(p::Frame{p::FrameType::hello, 0, 0, {}});
    f = recv(seconds(1));
    while (f && f->type != p::FrameType::hello) f = recv(seconds(1));
    if (f) break;
    if (fd_ < 0 || decoder_.failed()) return std::nullopt;
  }
  if (!f) return std::nullopt;
  hello_s_ = duration<double>(steady_clock::now() - started_).count();
  auto hello = p::parse_hello(f->payload);
  if (!hello) {
    last_error_ = hello.error().message;
    return std::nullopt;
  }
  send(p::config_frame(config));
  auto r = recv(seconds(30));
  if (!r || r->type != p::FrameType::ready) {
    last_error_ = "no READY after CONFIG";
    return std::nullopt;
  }
  return *hello;
}

ExecResult GuestVm::exec(const p::Open& req, const std::string& stdin_data, bool close_stdin, milliseconds timeout,
                         std::optional<std::uint32_t> signal_after_output, std::vector<Trigger> triggers) {
  ExecResult r;
  std::uint32_t id = next_id_;
  next_id_ += 2;
  send(p::open_frame(id, req));
  auto deadline = steady_clock::now() + timeout;
  bool got_close = false, signalled = false, sent_eof = false;
  std::size_t stdin_off = 0;
  std::uint64_t window = p::kInitialWindow;
  // Stdin goes out in frames of at most kMaxPayload, never beyond the guest's window.
  auto pump_stdin = [&] {
    while (stdin_off < stdin_data.size() && window > 0) {
      std::size_t n = std::min<std::size_t>({stdin_data.size() - stdin_off, p::kMaxPayload, window});
      send(p::data_frame(id, std::string_view(stdin_data).substr(stdin_off, n)));
      stdin_off += n;
      window -= n;
    }
    if (stdin_off == stdin_data.size() && close_stdin && !sent_eof) {
      send(p::empty_frame(p::FrameType::eof, id));
      sent_eof = true;
    }
  };
  while (!got_close) {
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) {
      last_error_ = "exec timed out";
      break;
    }
    auto f = recv(left);
    if (!f) break;
    if (f->type == p::FrameType::open && f->stream % 2 == 0) {
      if (auto o = p::parse_open(f->payload)) proxy_opens_.push_back(*o);
      send(p::open_fail_frame(f->stream, {"egress proxy not available yet (sbx test host)", std::nullopt}));
      continue;
    }
    if (f->stream != id) continue;
    switch (f->type) {
      case p::FrameType::open_ok:
        r.opened = true;
        pump_stdin();
        break;
      case p::FrameType::window:
        window += p::read_u32(f->payload);
        pump_stdin();
        break;
      case p::FrameType::open_fail: {
        auto fail = p::parse_open_fail(f->payload);
        r.open_fail = fail ? fail->reason : "?";
        return r;
      }
      case p::FrameType::data:
        (f->flags == p::kChannelStderr ? r.err : r.out) += f->payload;
        send(p::window_frame(id, static_cast<std::uint32_t>(f->payload.size())));
        for (auto it = triggers.begin(); it != triggers.end();) {
          if (r.out.find(it->when) == std::string::npos) {
            ++it;
            continue;
          }
          auto fr = it->frame;
          fr.stream = id;
          send(fr);
          it = triggers.erase(it);
        }
        if (signal_after_output && !signalled) {
          send(p::signal_frame(id, *signal_after_output));
          signalled = true;
        }
        break;
      case p::FrameType::exit: {
        auto st = p::parse_exit(*f);
        r.code = st.code;
        r.signal = st.signal;
        break;
      }
      case p::FrameType::close:
        send(p::empty_frame(p::FrameType::close, id));
        got_close = true;
        break;
      default:
        break;
    }
  }
  return r;
}

bool GuestVm::qmp_powerdown() {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, (dir_ / "qmp.sock").c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return false;
  }
  // Read one reply line (the greeting, then each command's {"return": {}}), bounded in time.
  auto read_line = [&] {
    std::string line;
    char c;
    pollfd pfd{fd, POLLIN, 0};
    while (::poll(&pfd, 1, 5000) > 0 && ::read(fd, &c, 1) == 1) {
      if (c == '\n') break;
      line += c;
    }
    return line;
  };
  bool ok = read_line().find("QMP") != std::string::npos;
  for (const char* cmd : {"{\"execute\":\"qmp_capabilities\"}\n", "{\"execute\":\"system_powerdown\"}\n"}) {
    ok = ok && ::write(fd, cmd, std::strlen(cmd)) > 0;
    std::string reply;
    do {
      reply = read_line();
    } while (!reply.empty() && reply.find("\"event\"") != std::string::npos);
    ok = ok && reply.find("\"return\"") != std::string::npos;
  }
  ::close(fd);
  return ok;
}

std::optional<int> GuestVm::wait_exit(milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  while (pid_ > 0 && steady_clock::now() < deadline) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    ::usleep(10000);
  }
  return std::nullopt;
}

std::string GuestVm::console() const {
  std::ifstream in(dir_ / "console.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace sbx::guest::test
