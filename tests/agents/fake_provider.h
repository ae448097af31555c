#pragma once
// The fake model provider (fake_provider.py) as a test fixture: HTTPS on 127.0.0.1 with a
// certificate from a CA made at start, Anthropic's /v1/messages and OpenAI's /v1/responses with a
// fixed answer, and one JSON line per request (auth headers included) to read back. Header-only,
// so the proxy tests and the VM tests share it. Needs SBX_FAKE_PROVIDER_SCRIPT (its path).
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace sbx::testing {

/// The answer every request gets (the script's default; pass --answer to change it).
inline constexpr const char* kFakeProviderAnswer = "sbx fake provider says: the sandbox works";

class FakeProvider {
 public:
  /// Start the server with its PKI and record under `dir`, a certificate for `names`; `delay_ms`
  /// spaces streamed events; `require_key_file` makes requests without that key a 401.
  FakeProvider(const std::filesystem::path& dir, const std::vector<std::string>& names, int delay_ms = 0,
               const std::filesystem::path& require_key_file = {})
      : ca(dir / "pki" / "ca.crt"), record(dir / "requests.jsonl") {
    std::vector<std::string> args = {"/usr/bin/python3", SBX_FAKE_PROVIDER_SCRIPT, "--pki", (dir / "pki").string(),
                                     "--record", record.string(), "--delay-ms", std::to_string(delay_ms)};
    for (const auto& n : names) args.insert(args.end(), {"--name", n});
    if (!require_key_file.empty()) args.insert(args.end(), {"--require-key-file", require_key_file.string()});
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    pollfd p{out[0], POLLIN, 0};
    while (::poll(&p, 1, 20000) > 0 && ::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(out[0]);
    port = std::atoi(line.c_str());
  }
  ~FakeProvider() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  /// Every request received so far, oldest first.
  std::vector<nlohmann::json> requests() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(record);
    for (std::string l; std::getline(in, l);) {
      auto j = nlohmann::json::parse(l, nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
  }

  int port = 0;
  std::filesystem::path ca;      // the test CA the egress proxy must trust (SBX_EGRESS_UPSTREAM_CA)
  std::filesystem::path record;  // one JSON line per request

 private:
  pid_t pid_ = -1;
};

}  // namespace sbx::testing
