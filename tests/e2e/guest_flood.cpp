// A static program the budget e2e test runs as guest root: it plays a hostile guest that writes
// raw channel frames. It borrows the guest agent's channel fd (pidfd_getfd on PID 1) and writes
// whole frames with single write() calls, so they never interleave with the agent's own frames.
//   guest_flood logs STREAMS USED BYTES  open STREAMS log streams, send BYTES of DATA over the first USED
//   guest_flood proxy STREAMS          open STREAMS proxy streams and never close them
//   guest_flood proxy-close STREAMS    send CLOSE for those proxy streams
//   guest_flood console BYTES          write BYTES of text to the serial console (/dev/ttyS0)
//   guest_flood port PORT              OPEN port streams to PORT (even and odd ids): only the host may
// Exit 0 when every write went out; it prints one summary line.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <string>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest/protocol/frame.h"
#include "guest/protocol/messages.h"

namespace proto = sbx::guest::protocol;

namespace {

constexpr std::uint32_t kLogBase = 2000000;    // even ids far above the agent's own
constexpr std::uint32_t kProxyBase = 4000000;
constexpr std::uint32_t kPortBase = 6000000;

// The /dev/vportNpM whose name is sbx.ctl.
std::string channel_device() {
  DIR* d = ::opendir("/sys/class/virtio-ports");
  if (!d) return {};
  std::string found;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string("/sys/class/virtio-ports/") + e->d_name + "/name");
    std::string name;
    std::getline(in, name);
    if (name == proto::kPortName) found = std::string("/dev/") + e->d_name;
  }
  ::closedir(d);
  return found;
}

// PID 1's fd on the channel, duplicated into this process.
int borrow_channel() {
  const std::string dev = channel_device();
  if (dev.empty()) return -1;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, 1, 0));
  if (pidfd < 0) return -1;
  DIR* d = ::opendir("/proc/1/fd");
  if (!d) return -1;
  int fd = -1;
  while (dirent* e = ::readdir(d)) {
    char target[256] = {0};
    const std::string link = std::string("/proc/1/fd/") + e->d_name;
    if (::readlink(link.c_str(), target, sizeof target - 1) > 0 && dev == target) {
      fd = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, std::atoi(e->d_name), 0));
      break;
    }
  }
  ::closedir(d);
  // The fd shares PID 1's open file (and its O_NONBLOCK, which must stay): writes poll instead.
  return fd;
}

// One frame in one write(): the port takes a write of up to 32 KiB whole or not at all
// (EAGAIN), so frames up to that size never interleave with the agent's.
bool send_frame(int fd, const proto::Frame& f) {
  const std::string bytes = proto::encode(f);
  for (;;) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
      continue;
    }
    return n == static_cast<ssize_t>(bytes.size());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string mode = argv[1];
  const unsigned long long n = std::strtoull(argv[2], nullptr, 10);
  if (mode == "console") {
    const int tty = ::open("/dev/ttyS0", O_WRONLY | O_NOCTTY);
    if (tty < 0) return 1;
    std::string line(79, 'c');
    line += '\n';
    std::string block;
    while (block.size() < 4000) block += line;
    unsigned long long sent = 0;
    while (sent < n) {
      const ssize_t w = ::write(tty, block.data(), block.size());
      if (w <= 0) return 1;
      sent += static_cast<unsigned long long>(w);
    }
    std::printf("console %llu\n", sent);
    return 0;
  }
  const int fd = borrow_channel();
  if (fd < 0) {
    std::printf("cannot borrow the channel: %s\n", std::strerror(errno));
    return 1;
  }
  if (mode == "logs") {
    const unsigned long long used = argc > 3 ? std::max(1ull, std::min(n, std::strtoull(argv[3], nullptr, 10))) : n;
    const unsigned long long bytes = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 0;
    proto::Open o;
    o.kind = proto::OpenKind::log;
    o.name = "flood";
    for (unsigned long long i = 0; i < n; ++i)
      if (!send_frame(fd, proto::open_frame(kLogBase + 2 * static_cast<std::uint32_t>(i), o))) return 1;
    std::string line(63, 'g');
    line += '\n';
    std::string chunk;
    while (chunk.size() + line.size() <= 30000) chunk += line;
    unsigned long long sent = 0;
    for (unsigned long long i = 0; sent < bytes; ++i, sent += chunk.size())
      if (!send_frame(fd, proto::data_frame(kLogBase + 2 * static_cast<std::uint32_t>(i % used), chunk))) return 1;
    std::printf("logs %llu streams %llu bytes\n", n, sent);
    return 0;
  }
  if (mode == "proxy" || mode == "proxy-close") {
    proto::Open o;
    o.kind = proto::OpenKind::proxy;
    o.destination.host = "127.0.0.1";
    o.destination.port = 9;
    o.client = "127.0.0.1:1";
    for (unsigned long long i = 0; i < n; ++i) {
      const std::uint32_t id = kProxyBase + 2 * static_cast<std::uint32_t>(i);
      const proto::Frame f = mode == "proxy" ? proto::open_frame(id, o) : proto::empty_frame(proto::FrameType::close, id);
      if (!send_frame(fd, f)) return 1;
    }
    std::printf("%s %llu\n", mode.c_str(), n);
    return 0;
  }
  if (mode == "port") {
    proto::Open o;
    o.kind = proto::OpenKind::port;
    o.guest_port = static_cast<std::uint16_t>(n);
    for (std::uint32_t id : {kPortBase, kPortBase + 1, kPortBase + 2})
      if (!send_frame(fd, proto::open_frame(id, o))) return 1;
    std::printf("port %llu\n", n);
    return 0;
  }
  return 2;
}
