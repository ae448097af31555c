#include <catch2/catch.hpp>

#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

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

namespace {

// A descriptor open without O_CLOEXEC, as one inherited from a parent would be.
struct LeakyFd {
  int fd = ::open("/dev/null", O_RDONLY);
  ~LeakyFd() { ::close(fd); }
};

}  // namespace

TEST_CASE("run_tool gives the tool no descriptor but its stdio, even one without O_CLOEXEC", "[common][run_tool]") {
  LeakyFd leaky;
  REQUIRE(leaky.fd > 2);
  auto r = sbx::run_tool({"/bin/sh", "-c", "test -e /proc/$$/fd/" + std::to_string(leaky.fd) + " && echo leaked || echo clean"});
  REQUIRE(r.has_value());
  CHECK(r->output == "clean\n");
}

TEST_CASE("run_tool_lines hands over each line as it comes and keeps the tail", "[common][run_tool]") {
  LeakyFd leaky;
  std::vector<std::string> lines;
  std::string tail;
  auto rc = sbx::run_tool_lines({"/bin/sh", "-c", "echo one; echo two >&2; test -e /proc/$$/fd/" + std::to_string(leaky.fd) +
                                                      " && echo leaked; printf 'no newline'; exit 4"},
                                [&](const std::string& l) { lines.push_back(l); }, tail);
  REQUIRE(rc.has_value());
  CHECK(*rc == 4);
  CHECK(lines == std::vector<std::string>{"one", "two", "no newline"});
  CHECK(tail == "one\ntwo\nno newline\n");
}

TEST_CASE("run_tool_lines keeps only the last 8 KiB as the tail", "[common][run_tool]") {
  std::string tail;
  std::size_t count = 0;
  auto rc = sbx::run_tool_lines({"/bin/sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done"},
                                [&](const std::string&) { ++count; }, tail);
  REQUIRE(rc.has_value());
  CHECK(*rc == 0);
  CHECK(count == 2000);
  CHECK(tail.size() <= 8192);
  CHECK(tail.ends_with("line-1999\n"));
}
