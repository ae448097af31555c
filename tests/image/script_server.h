#pragma once
// A loopback helper script for the registry tests (image_test and the e2e binary):
// registry_fixture.py (Debian's docker-registry, with images pushed into it) or
// registry_redirector.py. It prints one JSON line when ready and stops when its stdin closes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/temp_dir.h"

namespace sbx::testing {

class ScriptServer {
 public:
  /// Run `python3 script DIR ARGS...` (empty args are skipped), DIR a new private directory.
  ScriptServer(const std::filesystem::path& script, const std::vector<std::string>& args) {
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    std::vector<const char*> argv{"python3", script.c_str(), dir_.path().c_str()};
    for (const auto& a : args)
      if (!a.empty()) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::execvp("python3", const_cast<char**>(argv.data()));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
    const std::string line = read_line(std::chrono::seconds(60));
    INFO("fixture said: " << line << " (log: " << (dir_.path() / "registry.log").string() << ")");
    info_ = nlohmann::json::parse(line, nullptr, false);
    REQUIRE(info_.is_object());
    REQUIRE_FALSE(info_.contains("error"));
  }
  ScriptServer(const ScriptServer&) = delete;
  ScriptServer& operator=(const ScriptServer&) = delete;
  ~ScriptServer() {
    ::close(to_);  // EOF: the script stops what it started and exits
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      ::usleep(50000);
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(from_);
  }

  const nlohmann::json& info() const { return info_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(info_["port"].get<int>()); }
  std::filesystem::path dir() const { return dir_.path(); }
  /// Where the registry stores the blob `digest` ("sha256:<hex>").
  std::filesystem::path blob_data(const std::string& digest) const {
    const std::string hex = digest.substr(7);
    return std::filesystem::path(info_["storage"].get<std::string>()) / "blobs" / "sha256" / hex.substr(0, 2) / hex / "data";
  }
  /// Send a one-line command ("tokens", "seen") and parse the JSON line it answers.
  nlohmann::json ask(const std::string& command) {
    const std::string line = command + "\n";
    REQUIRE(::write(to_, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
    return nlohmann::json::parse(read_line(std::chrono::seconds(10)));
  }

 private:
  std::string read_line(std::chrono::seconds limit) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char c;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      if (::read(from_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    FAIL("registry fixture gave no line within the limit; got '" << line << "'");
    return line;
  }

  sbx::test::TempDir dir_{"sbx-registry-test"};  // removed after the script is gone
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  nlohmann::json info_;
};

}  // namespace sbx::testing
