#include <catch2/catch.hpp>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include "common/process.h"

TEST_CASE("this process is alive, pid 0 and negative pids are not", "[common][process]") {
  CHECK(sbx::process::alive(::getpid()));
  CHECK(sbx::process::alive(1));  // init: exists even when it belongs to another user
  CHECK_FALSE(sbx::process::alive(0));
  CHECK_FALSE(sbx::process::alive(-1));
  CHECK_FALSE(sbx::process::alive(4294967297L));  // would be pid 1 if it were cut to 32 bits
}

TEST_CASE("a running child is alive, an exited unreaped one (a zombie) is not, a reaped one is not", "[common][process]") {
  int go[2];
  REQUIRE(::pipe(go) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    char c;
    ::close(go[1]);
    (void)::read(go[0], &c, 1);  // exits when the parent closes its end
    ::_exit(0);
  }
  ::close(go[0]);
  CHECK(sbx::process::alive(pid));
  ::close(go[1]);
  // Wait for the exit but leave the child unreaped: a zombie.
  siginfo_t info{};
  REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) == 0);
  CHECK(sbx::process::alive(pid) == false);
  int st = 0;
  REQUIRE(::waitpid(pid, &st, 0) == pid);
  CHECK_FALSE(sbx::process::alive(pid));
}
