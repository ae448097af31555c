// Unit tests for the relay (src/proxy/relay.*): pumps between real sockets on socketpairs.
#include <catch2/catch.hpp>

#include <chrono>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "proxy/relay.h"

using namespace sbx::proxy;

namespace {

/// Two connected stream sockets; [0] is the relay's (non-blocking), [1] the peer's (blocking).
struct Pair {
  int fd[2] = {-1, -1};
  Pair() {
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) == 0);
    sbx::set_nonblocking(fd[0]);
  }
  ~Pair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  void close_peer() {
    ::close(fd[1]);
    fd[1] = -1;
  }
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

/// Read from fd until EOF.
std::string read_all(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

/// A thread that writes `data` into the peer end of `p`, then closes it.
std::thread write_then_close(Pair& p, const std::string& data) {
  return std::thread([&p, &data] {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::write(p.fd[1], data.data() + off, data.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    p.close_peer();
  });
}

}  // namespace

TEST_CASE("a pump moves every byte from one socket to the other, counts them and sees the end", "[proxy][relay]") {
  Pair in, out;  // peer writes in.fd[1] -> relay reads in.fd[0] -> writes out.fd[0] -> peer reads out.fd[1]
  const std::string data = pattern(300 * 1024);  // more than the socket buffers hold at once
  std::thread writer = write_then_close(in, data);
  std::string got;
  std::thread reader([&] {
    got = read_all(out.fd[1]);
  });
  Buffer b;
  b.ensure(16384);
  bool eof = false;
  std::uint64_t counted = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!(eof && b.empty()) && std::chrono::steady_clock::now() < deadline) {
    bool moved = false;
    REQUIRE(pump(in.fd[0], out.fd[0], b, eof, &counted, true, moved));
    if (!moved) {
      pollfd p[2] = {{in.fd[0], POLLIN, 0}, {out.fd[0], static_cast<short>(b.empty() ? 0 : POLLOUT), 0}};
      ::poll(p, 2, 50);
    }
  }
  writer.join();
  ::shutdown(out.fd[0], SHUT_WR);
  reader.join();
  CHECK(eof);
  CHECK(counted == data.size());
  CHECK(got == data);
}

TEST_CASE("a short read marks the socket empty until the next edge, unless a FIN is pending", "[proxy][relay]") {
  Pair in, out;
  REQUIRE(::write(in.fd[1], "hello", 5) == 5);
  Buffer b;
  b.ensure(4096);
  bool eof = false, moved = false, readable = true;
  REQUIRE(pump(in.fd[0], out.fd[0], b, eof, nullptr, true, moved, &readable, false));
  CHECK(moved);
  CHECK_FALSE(readable);  // 5 bytes of 4096 asked: the socket is empty
  CHECK_FALSE(eof);
  char got[8] = {};
  REQUIRE(::read(out.fd[1], got, sizeof got) == 5);
  CHECK(std::string(got, 5) == "hello");

  // Not readable: the pump does not read even though bytes wait.
  REQUIRE(::write(in.fd[1], "again", 5) == 5);
  moved = false;
  REQUIRE(pump(in.fd[0], out.fd[0], b, eof, nullptr, true, moved, &readable, false));
  CHECK_FALSE(moved);

  // A pending FIN (hup) keeps it readable after the short read, so the pump reads to the end.
  in.close_peer();
  readable = true;
  REQUIRE(pump(in.fd[0], out.fd[0], b, eof, nullptr, true, moved, &readable, true));
  CHECK(moved);
  CHECK(eof);
}

TEST_CASE("a write to a closed peer is a fatal error for the pump", "[proxy][relay]") {
  Pair in, out;
  REQUIRE(::write(in.fd[1], "data", 4) == 4);
  out.close_peer();
  Buffer b;
  b.ensure(4096);
  bool eof = false, moved = false;
  CHECK_FALSE(pump(in.fd[0], out.fd[0], b, eof, nullptr, true, moved));
}

TEST_CASE("a tunnel direction switches to splice after its first MiB and keeps the bytes in order", "[proxy][relay]") {
  Pair in, out;
  const std::string data = pattern(kSpliceAfter * 3 + 12345);
  std::thread writer = write_then_close(in, data);
  std::string got;
  std::thread reader([&] { got = read_all(out.fd[1]); });
  Buffer b;
  b.ensure(65536);
  Splice sp;
  bool eof = false, readable = true, spliced = false;
  std::uint64_t counted = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!(eof && b.empty() && sp.in_pipe == 0) && std::chrono::steady_clock::now() < deadline) {
    bool moved = false;
    REQUIRE(tunnel_pump(in.fd[0], out.fd[0], b, sp, eof, &counted, moved, readable, false));
    spliced |= sp.active();
    if (!moved) {
      pollfd p[2] = {{in.fd[0], POLLIN | POLLRDHUP, 0}, {out.fd[0], POLLOUT, 0}};
      ::poll(p, 2, 50);
      if (p[0].revents) readable = true;
    }
  }
  writer.join();
  ::shutdown(out.fd[0], SHUT_WR);
  reader.join();
  CHECK(spliced);
  CHECK(sp.through >= kSpliceAfter);
  CHECK(counted == data.size());
  CHECK(got.size() == data.size());
  CHECK(got == data);
}

TEST_CASE("a buffer grows to take a head larger than its space, keeping what it holds", "[proxy][relay]") {
  Buffer b;
  b.ensure(8);
  b.append("0123");
  b.start = 2;  // two bytes already written out
  b.append("456789abcdef");
  CHECK(b.size() == 14);
  CHECK(std::string(b.data.get() + b.start, b.size()) == "23456789abcdef");
  b.start = b.end;
  b.compact();
  CHECK(b.empty());
  CHECK(b.start == 0);
}
