#include <catch2/catch.hpp>

#include <ostream>
#include <type_traits>

#include <spdlog/fmt/fmt.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secrets/harden.h"
#include "secrets/secret_buffer.h"

using sbx::secrets::SecretBuffer;

template <class T>
concept Streamable = requires(std::ostream& os, const T& t) { os << t; };

// A secret must not be loggable or copyable by accident: these are compile-time properties.
static_assert(!fmt::is_formattable<SecretBuffer>::value, "SecretBuffer must have no fmt formatter");
static_assert(!Streamable<SecretBuffer>, "SecretBuffer must have no operator<<");
static_assert(!std::is_copy_constructible_v<SecretBuffer> && !std::is_copy_assignable_v<SecretBuffer>);
static_assert(std::is_nothrow_move_constructible_v<SecretBuffer>);

TEST_CASE("a secret buffer holds a copy of its bytes and reveals them only through reveal()", "[secrets]") {
  auto b = SecretBuffer::copy_of("hunter2");
  REQUIRE(b);
  CHECK(b->size() == 7);
  CHECK(b->reveal() == "hunter2");
  b->truncate(3);
  CHECK(b->reveal() == "hun");
  CHECK(b->data()[3] == 0);  // the cut tail is wiped
}

TEST_CASE("moving a secret buffer transfers ownership and empties the source", "[secrets]") {
  SecretBuffer a = *SecretBuffer::copy_of("value");
  SecretBuffer b = std::move(a);
  CHECK(a.empty());  // NOLINT: checking the moved-from state is the point
  CHECK(a.reveal().empty());
  CHECK(b.reveal() == "value");
  SecretBuffer c = *SecretBuffer::copy_of("other");
  c = std::move(b);
  CHECK(c.reveal() == "value");
}

TEST_CASE("secret buffers compare in constant time by content and size", "[secrets]") {
  CHECK(SecretBuffer::copy_of("abc")->equals(*SecretBuffer::copy_of("abc")));
  CHECK_FALSE(SecretBuffer::copy_of("abc")->equals(*SecretBuffer::copy_of("abd")));
  CHECK_FALSE(SecretBuffer::copy_of("abc")->equals(*SecretBuffer::copy_of("abcd")));
  CHECK(SecretBuffer().equals(*SecretBuffer::copy_of("")));
}

TEST_CASE("harden_process turns off core dumps and ptrace attach", "[secrets]") {
  // In a child, so the test runner itself stays debuggable.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!sbx::secrets::harden_process()) ::_exit(10);
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) ::_exit(11);
    rlimit core{};
    if (::getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0) ::_exit(12);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
