#include <catch2/catch.hpp>

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>
#include <utility>

#include "common/fd.h"

namespace {
bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
int open_null() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }
}  // namespace

TEST_CASE("an Fd closes its descriptor when it goes out of scope", "[common][fd]") {
  int raw = -1;
  {
    sbx::Fd fd(open_null());
    raw = fd.get();
    REQUIRE(raw >= 0);
    CHECK(static_cast<bool>(fd));
    CHECK(is_open(raw));
  }
  CHECK_FALSE(is_open(raw));
}

TEST_CASE("moving an Fd hands the descriptor over and leaves the source empty", "[common][fd]") {
  sbx::Fd a(open_null());
  const int raw = a.get();
  sbx::Fd b(std::move(a));
  CHECK(a.get() == -1);
  CHECK_FALSE(static_cast<bool>(a));
  CHECK(b.get() == raw);

  sbx::Fd c(open_null());
  const int other = c.get();
  c = std::move(b);  // c's own descriptor is closed, b's is now c's
  CHECK(c.get() == raw);
  CHECK(b.get() == -1);
  CHECK_FALSE(is_open(other));
  CHECK(is_open(raw));
}

TEST_CASE("release gives the descriptor away without closing it, reset closes the old one", "[common][fd]") {
  sbx::Fd fd(open_null());
  const int raw = fd.release();
  CHECK(fd.get() == -1);
  CHECK(is_open(raw));

  fd.reset(raw);
  CHECK(fd.get() == raw);
  fd.reset(raw);  // resetting to the descriptor it already holds keeps it open
  CHECK(is_open(raw));
  fd.reset();
  CHECK(fd.get() == -1);
  CHECK_FALSE(is_open(raw));
}

TEST_CASE("set_nonblocking adds O_NONBLOCK and keeps the other flags", "[common][fd]") {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  sbx::Fd r(p[0]), w(p[1]);
  REQUIRE((::fcntl(r.get(), F_GETFL) & O_NONBLOCK) == 0);
  REQUIRE(sbx::set_nonblocking(r.get()));
  CHECK((::fcntl(r.get(), F_GETFL) & O_NONBLOCK) != 0);
  char c;
  const ssize_t n = ::read(r.get(), &c, 1);
  const int read_err = errno;
  CHECK(n == -1);
  CHECK(read_err == EAGAIN);
  const bool bad = sbx::set_nonblocking(-1);
  const int bad_err = errno;
  CHECK_FALSE(bad);
  CHECK(bad_err == EBADF);
}
