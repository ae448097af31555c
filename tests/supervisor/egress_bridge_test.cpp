// The supervisor's half of the egress path: descriptors handed over SCM_RIGHTS, and one guest
// proxy stream bridged to a socket under the channel's flow control.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "guest/protocol/frame.h"
#include "supervisor/bridge.h"
#include "supervisor/fd_passing.h"

using namespace sbx::supervisor;
namespace proto = sbx::guest::protocol;
using proto::Frame;
using proto::FrameType;

namespace {

std::pair<sbx::Fd, sbx::Fd> stream_pair() {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
  return {sbx::Fd(sv[0]), sbx::Fd(sv[1])};
}

std::string read_some(int fd) {
  pollfd p{fd, POLLIN, 0};
  ::poll(&p, 1, 1000);
  char buf[65536];
  const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

struct Guest {
  std::vector<Frame> frames;
  StreamBridge::Emit emit() {
    return [this](const Frame& f) { frames.push_back(f); };
  }
  size_t count(FrameType t) const {
    size_t n = 0;
    for (const auto& f : frames) n += f.type == t;
    return n;
  }
  std::uint64_t data_bytes() const {
    std::uint64_t n = 0;
    for (const auto& f : frames)
      if (f.type == FrameType::data) n += f.payload.size();
    return n;
  }
  std::uint64_t window_credit() const {
    std::uint64_t n = 0;
    for (const auto& f : frames)
      if (f.type == FrameType::window) n += proto::read_u32(f.payload);
    return n;
  }
};

// Drive the bridge like the supervisor's poll loop does, until nothing more happens.
void pump(StreamBridge& b, Guest& g, int rounds = 64) {
  for (int i = 0; i < rounds && b.fd() >= 0; ++i) {
    const short ev = b.events(true);
    if (!ev) return;
    pollfd p{b.fd(), ev, 0};
    if (::poll(&p, 1, 50) <= 0) return;
    b.on_events(p.revents, g.emit());
  }
}

}  // namespace

TEST_CASE("a descriptor sent over the control socket arrives working, with its message", "[supervisor][egress]") {
  auto control = control_pair();
  REQUIRE(control);
  auto [mine, theirs] = stream_pair();
  REQUIRE(send_with_fd(control->first.get(), "stream 127.0.0.1:40000", theirs.get()) == IoStatus::ok);
  theirs.reset();  // the receiver's copy is independent of the sender's
  Packet p;
  REQUIRE(receive_with_fd(control->second.get(), p) == IoStatus::ok);
  CHECK(p.message == "stream 127.0.0.1:40000");
  REQUIRE(p.fd);
  CHECK(::fcntl(p.fd.get(), F_GETFD) & FD_CLOEXEC);
  REQUIRE(::send(p.fd.get(), "ping", 4, 0) == 4);
  CHECK(read_some(mine.get()) == "ping");
}

TEST_CASE("control packets without a descriptor, an empty one, and a closed peer are told apart", "[supervisor][egress]") {
  auto control = control_pair();
  REQUIRE(control);
  Packet p;
  CHECK(receive_with_fd(control->second.get(), p) == IoStatus::again);
  REQUIRE(send_with_fd(control->first.get(), "reload", -1) == IoStatus::ok);
  REQUIRE(send_with_fd(control->first.get(), "", -1) == IoStatus::ok);
  REQUIRE(receive_with_fd(control->second.get(), p) == IoStatus::ok);
  CHECK(p.message == "reload");
  CHECK_FALSE(p.fd);
  REQUIRE(receive_with_fd(control->second.get(), p) == IoStatus::ok);
  CHECK(p.message.empty());
  control->first.reset();
  CHECK(receive_with_fd(control->second.get(), p) == IoStatus::closed);
  CHECK(send_with_fd(control->second.get(), "x", -1) == IoStatus::closed);
  CHECK(send_with_fd(control->second.get(), std::string(kMaxControlMessage + 1, 'x'), -1) == IoStatus::error);
}

TEST_CASE("guest data reaches the socket and is credited back only once written", "[supervisor][egress]") {
  auto [ours, proxy] = stream_pair();
  StreamBridge b(2, std::move(ours));
  Guest g;
  b.on_guest_frame(proto::data_frame(2, "GET http://example.test/ HTTP/1.1\r\n\r\n"), g.emit());
  CHECK(read_some(proxy.get()) == "GET http://example.test/ HTTP/1.1\r\n\r\n");
  CHECK(g.window_credit() == 37);
  REQUIRE(::send(proxy.get(), "HTTP/1.1 200 OK\r\n", 17, 0) == 17);
  pump(b, g);
  REQUIRE(g.count(FrameType::data) == 1);
  CHECK(g.frames.back().stream == 2);
  CHECK(g.frames.back().payload == "HTTP/1.1 200 OK\r\n");
}

TEST_CASE("socket bytes go to the guest only within its window", "[supervisor][egress]") {
  auto [ours, proxy] = stream_pair();
  StreamBridge b(4, std::move(ours));
  Guest g;
  // The proxy side writes more than one window; the bridge must stop at the window.
  const std::string chunk(64 * 1024, 'x');
  std::uint64_t written = 0;
  for (int i = 0; i < 8; ++i) {
    pollfd p{proxy.get(), POLLOUT, 0};
    if (::poll(&p, 1, 100) <= 0) break;
    const ssize_t n = ::send(proxy.get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n > 0) written += static_cast<std::uint64_t>(n);
    pump(b, g, 8);
  }
  pump(b, g);
  REQUIRE(written > proto::kInitialWindow);
  CHECK(g.data_bytes() == proto::kInitialWindow);
  CHECK(b.events(true) == 0);  // nothing to read for until the guest grants more
  b.on_guest_frame(proto::window_frame(4, 1000), g.emit());
  CHECK((b.events(true) & POLLIN));
  CHECK(b.events(false) == 0);  // a backed-up channel stops reading too
  pump(b, g);
  CHECK(g.data_bytes() == proto::kInitialWindow + 1000);
}

TEST_CASE("a guest that overruns its window loses the stream, so nothing unbounded is queued", "[supervisor][egress]") {
  auto [ours, proxy] = stream_pair();
  // The proxy side never reads: bytes queue in the bridge up to the window, not beyond.
  int small = 4096;
  ::setsockopt(proxy.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  StreamBridge b(6, std::move(ours));
  Guest g;
  const std::string chunk(proto::kMaxPayload, 'y');
  for (std::uint32_t sent = 0; sent + chunk.size() <= proto::kInitialWindow; sent += chunk.size())
    b.on_guest_frame(proto::data_frame(6, chunk), g.emit());
  CHECK(b.queued() <= proto::kInitialWindow);
  CHECK(g.count(FrameType::close) == 0);
  // Everything the kernel took was credited back; one byte past that credit is an overrun.
  const auto credit = g.window_credit();
  b.on_guest_frame(proto::data_frame(6, std::string(credit + 1, 'z')), g.emit());
  CHECK(g.count(FrameType::close) == 1);
  CHECK(b.queued() == 0);
  CHECK(b.fd() < 0);
  b.on_guest_frame(proto::empty_frame(FrameType::close, 6), g.emit());
  CHECK(b.finished());
  CHECK(g.count(FrameType::close) == 1);  // never a second CLOSE
}

TEST_CASE("EOF both ways ends the stream with one CLOSE each", "[supervisor][egress]") {
  auto [ours, proxy] = stream_pair();
  StreamBridge b(8, std::move(ours));
  Guest g;
  b.on_guest_frame(proto::data_frame(8, "request"), g.emit());
  b.on_guest_frame(proto::empty_frame(FrameType::eof, 8), g.emit());
  CHECK(read_some(proxy.get()) == "request");
  char c;
  CHECK(::recv(proxy.get(), &c, 1, 0) == 0);  // the proxy saw the guest's half-close
  REQUIRE(::send(proxy.get(), "response", 8, 0) == 8);
  ::shutdown(proxy.get(), SHUT_WR);
  pump(b, g);
  REQUIRE(g.count(FrameType::eof) == 1);
  CHECK(g.count(FrameType::close) == 1);
  CHECK_FALSE(b.finished());
  b.on_guest_frame(proto::empty_frame(FrameType::close, 8), g.emit());
  CHECK(b.finished());
  CHECK(g.count(FrameType::close) == 1);
}

TEST_CASE("a proxy that goes away closes the guest stream, and a guest CLOSE closes the socket", "[supervisor][egress]") {
  {
    auto [ours, proxy] = stream_pair();
    StreamBridge b(10, std::move(ours));
    Guest g;
    proxy.reset();
    b.on_guest_frame(proto::data_frame(10, "bytes for nobody"), g.emit());
    pump(b, g);
    CHECK(g.count(FrameType::close) == 1);
  }
  {
    auto [ours, proxy] = stream_pair();
    StreamBridge b(12, std::move(ours));
    Guest g;
    b.on_guest_frame(proto::empty_frame(FrameType::close, 12), g.emit());
    CHECK(b.finished());
    CHECK(g.count(FrameType::close) == 1);
    char c;
    CHECK(::recv(proxy.get(), &c, 1, 0) == 0);
  }
}
