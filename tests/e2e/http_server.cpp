#include "http_server.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace sbx::e2e {

HttpServer::HttpServer(const std::filesystem::path& dir) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    const char* script =
        "import http.server,functools,sys\n"
        "h=functools.partial(http.server.SimpleHTTPRequestHandler,directory=sys.argv[1])\n"
        "s=http.server.ThreadingHTTPServer(('127.0.0.1',0),h)\n"
        "print(s.server_address[1],flush=True)\n"
        "s.serve_forever()\n";
    ::execlp("python3", "python3", "-c", script, dir.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(out[1]);
  // The port line, or EOF when python3 could not start (then port_ stays 0 and REQUIRE says so).
  std::string line;
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
  ::close(out[0]);
  port_ = std::atoi(line.c_str());
  REQUIRE(port_ > 0);
}

HttpServer::~HttpServer() {
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace sbx::e2e
