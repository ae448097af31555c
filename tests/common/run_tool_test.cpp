#include <catch2/catch.hpp>

#include <string>
#include <unistd.h>

#include "common/run_tool.h"

TEST_CASE("run_tool captures stdout and stderr together and reports the exit status", "[common][run_tool]") {
  auto r = sbx::run_tool({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  REQUIRE(r.has_value());
  CHECK(r->status == 3);
  CHECK(r->output == "out\nerr\n");
}

TEST_CASE("run_tool reports death by a signal as 128 plus the signal", "[common][run_tool]") {
  auto r = sbx::run_tool({"/bin/sh", "-c", "kill -TERM $$"});
  REQUIRE(r.has_value());
  CHECK(r->status == 128 + 15);
}

TEST_CASE("run_tool gives the tool /dev/null as stdin, not the caller's", "[common][run_tool]") {
  // Our own stdin becomes a pipe for the call, so an inherited stdin would show as pipe:[...].
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const int saved = ::dup(0);
  ::dup2(p[0], 0);
  auto r = sbx::run_tool({"/bin/sh", "-c", "readlink /proc/self/fd/0"});
  ::dup2(saved, 0);
  ::close(saved);
  ::close(p[0]);
  ::close(p[1]);
  REQUIRE(r.has_value());
  CHECK(r->status == 0);
  CHECK(r->output == "/dev/null\n");
}

TEST_CASE("run_tool keeps at most about 1 MiB of output and still drains the rest", "[common][run_tool]") {
  auto r = sbx::run_tool({"/bin/sh", "-c", "head -c 3000000 /dev/zero"});
  REQUIRE(r.has_value());
  CHECK(r->status == 0);  // not killed by SIGPIPE: everything was read
  CHECK(r->output.size() >= (1u << 20));
  CHECK(r->output.size() < (1u << 20) + 4096);
}

TEST_CASE("run_tool fails for a program that does not exist", "[common][run_tool]") {
  auto r = sbx::run_tool({"/nonexistent/sbx-no-such-tool"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("/nonexistent/sbx-no-such-tool") != std::string::npos);
}

TEST_CASE("find_tool finds a program on PATH and names the package when it is missing", "[common][run_tool]") {
  auto sh = sbx::find_tool("sh", "dash");
  REQUIRE(sh.has_value());
  CHECK(sh->ends_with("/sh"));
  CHECK(sbx::find_tool("/opt/x/tool", "pkg").value() == "/opt/x/tool");
  auto missing = sbx::find_tool("sbx-no-such-tool", "sbx-tools");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == sbx::ErrorCode::not_found);
  CHECK(missing.error().hint.find("sbx-tools") != std::string::npos);
}
