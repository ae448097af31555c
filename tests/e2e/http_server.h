#pragma once
// A real HTTP server on the host's loopback for end-to-end tests: python3's http.server serving
// a directory on 127.0.0.1 and an ephemeral port, killed when the object goes.
#include <filesystem>

#include <sys/types.h>

namespace sbx::e2e {

class HttpServer {
 public:
  /// Starts the server on `dir` and waits until it has printed its port.
  explicit HttpServer(const std::filesystem::path& dir);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace sbx::e2e
