// PortForwarder with real loopback sockets and the guest played by the test: what reaches the
// channel for each accepted connection, the guest's answers, and the connection budget.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "guest/protocol/messages.h"
#include "supervisor/launch.h"
#include "supervisor/port_forward.h"

using namespace sbx::supervisor;
namespace proto = sbx::guest::protocol;

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? fd : -1;
}

// One loop turn of the supervisor, as far as the forwarder goes.
struct Harness {
  PortForwarder fw;
  std::vector<proto::Frame> to_guest;
  std::uint32_t next = 1;
  explicit Harness(std::vector<PortLaunch> ports) : fw(std::move(ports), sbx::log::get("test")) {}
  void turn(int ms = 200) {
    PollSet set;
    fw.add_to_poll(set, true, true);
    set.wait(ms);
    fw.on_poll(set, [this] { return next += 2, next - 2; }, [this](const proto::Frame& f) { to_guest.push_back(f); });
  }
  void guest(const proto::Frame& f) {
    REQUIRE(fw.on_guest_frame(f, [this](const proto::Frame& out) { to_guest.push_back(out); }));
  }
};

// Bytes readable on `fd` within `ms`, or "" (and eof set when the peer closed).
std::string read_some(int fd, int ms, bool* eof = nullptr) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return {};
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n <= 0 && eof) *eof = true;
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

TEST_CASE("each accepted connection becomes a host-opened port stream carrying only the guest port", "[supervisor][ports]") {
  const int port = free_port();
  Harness h({{"127.0.0.1", static_cast<std::uint16_t>(port), 3000}});
  REQUIRE(h.fw.listen().has_value());
  const int client = connect_to(port);
  REQUIRE(client >= 0);
  for (int i = 0; i < 10 && h.to_guest.empty(); ++i) h.turn();
  REQUIRE(h.to_guest.size() == 1);
  const proto::Frame open = h.to_guest[0];
  CHECK(open.type == proto::FrameType::open);
  CHECK(open.stream % 2 == 1);
  auto o = proto::parse_open(open.payload);
  REQUIRE(o.has_value());
  CHECK(o->kind == proto::OpenKind::port);
  CHECK(o->guest_port == 3000);
  CHECK(h.fw.connections() == 1);

  // The guest connects: bytes flow both ways within the windows.
  h.guest(proto::open_ok_frame(open.stream, {}));
  h.guest(proto::data_frame(open.stream, "HTTP/1.0 200 OK\r\n\r\nhi"));
  CHECK(read_some(client, 2000) == "HTTP/1.0 200 OK\r\n\r\nhi");
  // Credited back to the guest once written to the client.
  REQUIRE(h.to_guest.size() == 2);
  CHECK(h.to_guest[1].type == proto::FrameType::window);
  CHECK(proto::read_u32(h.to_guest[1].payload) == 21);
  REQUIRE(::send(client, "GET /", 5, 0) == 5);
  h.to_guest.clear();
  for (int i = 0; i < 10 && h.to_guest.empty(); ++i) h.turn();
  bool saw_data = false;
  for (const auto& f : h.to_guest) saw_data |= f.type == proto::FrameType::data && f.payload == "GET /";
  CHECK(saw_data);
  // The guest ends it: the client sees EOF, and once both CLOSEs passed nothing is held.
  h.guest(proto::empty_frame(proto::FrameType::eof, open.stream));
  bool eof = false;
  read_some(client, 2000, &eof);
  CHECK(eof);
  ::close(client);
  for (int i = 0; i < 10; ++i) h.turn(50);
  h.guest(proto::empty_frame(proto::FrameType::close, open.stream));
  CHECK(h.fw.connections() == 0);
}

TEST_CASE("a refused guest connect closes the host client, and the budget closes the rest at once", "[supervisor][ports][budget]") {
  const int port = free_port();
  Harness h({{"127.0.0.1", static_cast<std::uint16_t>(port), 3001}});
  h.fw.set_budget(2);
  REQUIRE(h.fw.listen().has_value());
  int clients[3];
  for (int& c : clients) {
    c = connect_to(port);
    REQUIRE(c >= 0);
  }
  for (int i = 0; i < 20 && (h.fw.connections() + h.fw.refused()) < 3; ++i) h.turn();
  CHECK(h.fw.connections() == 2);
  CHECK(h.fw.refused() == 1);
  REQUIRE(h.to_guest.size() == 2);
  // The guest says nothing listens: that client is closed.
  h.guest(proto::open_fail_frame(h.to_guest[0].stream, {"cannot connect", 111}));
  CHECK(h.fw.connections() == 1);
  int closed = 0;
  for (int c : clients) {
    bool eof = false;
    read_some(c, 300, &eof);
    closed += eof;
    ::close(c);
  }
  CHECK(closed == 2);  // the refused one and the one over budget
  // A new guest session drops every connection.
  h.fw.reset();
  CHECK(h.fw.connections() == 0);
  // Frames for ids that are not ours are left to the rest of the supervisor.
  CHECK_FALSE(h.fw.on_guest_frame(proto::empty_frame(proto::FrameType::close, 999), [](const proto::Frame&) {}));
}

TEST_CASE("a host port in use is refused with the fix", "[supervisor][ports]") {
  const int port = free_port();
  auto first = listen_tcp("127.0.0.1", static_cast<std::uint16_t>(port));
  REQUIRE(first.has_value());
  auto second = listen_tcp("127.0.0.1", static_cast<std::uint16_t>(port));
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().message == "host port 127.0.0.1:" + std::to_string(port) + " is already in use");
  CHECK(second.error().hint.find("forward another host port") != std::string::npos);
  // PortForwarder::listen binds all or nothing.
  const int other = free_port();
  PortForwarder fw({{"127.0.0.1", static_cast<std::uint16_t>(other), 1}, {"127.0.0.1", static_cast<std::uint16_t>(port), 2}},
                   sbx::log::get("test"));
  REQUIRE_FALSE(fw.listen().has_value());
  CHECK(listen_tcp("127.0.0.1", static_cast<std::uint16_t>(other)).has_value());
}
