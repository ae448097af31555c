// End-to-end tests of the `sbx proxy` and `sbx egress suggest` commands: a real Sandboxfile,
// the real binary, curl through it, secret header injection seen by a real HTTPS upstream.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_support.h"

using namespace sbx::proxy::test;
using namespace std::chrono_literals;

namespace {

const std::string kCurl = "env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u no_proxy -u NO_PROXY curl -sS --max-time 10 ";
const std::string kSecret = "s3cr3t-Value-7f9a2c";

/// `sbx proxy` as a child process; stdout gives the port, stderr goes to a file.
struct SbxProxy {
  SbxProxy(const std::filesystem::path& dir, std::vector<std::string> extra) {
    int out[2];
    REQUIRE(pipe(out) == 0);
    pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      const int err = open((dir / "stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(err, 2);
      setenv("SBX_PROXY_TEST_SECRETS", "1", 1);
      setenv("SBX_TEST_SECRET_API_TOKEN", kSecret.c_str(), 1);
      setenv("SBX_PROXY_TEST_RESOLVE", "1", 1);
      setenv("SBX_LOG", "trace", 1);
      std::vector<std::string> args = {SBX_BINARY, "proxy", "--sandboxfile", (dir / "Sandboxfile").string(),
                                       "--listen", "127.0.0.1:0", "--log", (dir / "egress.jsonl").string(),
                                       "--state-dir", (dir / "state").string()};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c;
    pollfd p{out[0], POLLIN, 0};
    while (poll(&p, 1, 10000) > 0 && read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    if (line.rfind(':') != std::string::npos) port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  }
  ~SbxProxy() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int st = 0;
      waitpid(pid, &st, 0);
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  int pid = -1;
  std::uint16_t port = 0;
};

}  // namespace

TEST_CASE("sbx proxy injects a secret header for its host only, and the secret is in no log", "[proxy][e2e]") {
  Upstream up("tls", true);
  TempDir dir;
  const auto port = std::to_string(up.port);
  std::ofstream(dir.path / "Sandboxfile") << "version = 1\n[egress]\nallow = [\"secret.test:" << port << "\", \"other.test:" << port
                                          << "\", \"127.0.0.0/8:" << port << "\"]\n\n[[secret]]\nname = \"api-token\"\n"
                                          << "inject = \"header\"\nhosts = [\"secret.test\"]\nheader = \"Authorization\"\n"
                                          << "template = \"Bearer {}\"\n";
  SbxProxy px(dir.path, {"--resolve", "secret.test=127.0.0.1", "--resolve", "other.test=127.0.0.1", "--upstream-ca",
                         Pki::get().ca_crt.string()});
  REQUIRE(px.port != 0);
  // The sandbox CA exists, key 0600, and is what a client must trust for intercepted hosts.
  const auto ca = dir.path / "state" / "ca.crt";
  REQUIRE(std::filesystem::exists(ca));
  CHECK((std::filesystem::status(dir.path / "state" / "ca.key").permissions() & std::filesystem::perms::group_all) ==
        std::filesystem::perms::none);
  std::ofstream(dir.path / "trust.pem") << slurp(ca) << slurp(Pki::get().ca_crt);
  const std::string curl = kCurl + "--cacert " + (dir.path / "trust.pem").string() + " -x " + px.url() + " ";
  int rc = -1;
  auto out = sh(curl + "-H 'Authorization: Bearer PLACEHOLDER' https://secret.test:" + port + "/api", &rc);
  REQUIRE(rc == 0);
  CHECK(out.find("\"Bearer " + kSecret + "\"") != std::string::npos);
  CHECK(out.find("PLACEHOLDER") == std::string::npos);
  CHECK(out.find("\"/api\"") != std::string::npos);
  // ALPN: only http/1.1 is offered to the client.
  const auto alpn = sh("echo | timeout 5 openssl s_client -proxy 127.0.0.1:" + std::to_string(px.port) + " -connect secret.test:" +
                       port + " -servername secret.test -alpn h2,http/1.1 -CAfile " + ca.string() + " 2>/dev/null");
  CHECK(alpn.find("ALPN protocol: http/1.1") != std::string::npos);
  // Another host is a blind tunnel: no secret, the placeholder passes untouched.
  out = sh(curl + "-H 'Authorization: Bearer PLACEHOLDER' https://other.test:" + port + "/x", &rc);
  CHECK(rc == 0);
  CHECK(out.find(kSecret) == std::string::npos);
  CHECK(out.find("PLACEHOLDER") != std::string::npos);
  // Inside the intercepted tunnel, a Host header for another host is refused.
  out = sh(curl + "-H 'Host: other.test' https://secret.test:" + port + "/x", &rc);
  CHECK(out.find("does not match the CONNECT host") != std::string::npos);
  CHECK(out.find(kSecret) == std::string::npos);
  // A tunnel's record is written when it ends: wait for the last one's (the Host mismatch).
  std::string egress = slurp(dir.path / "egress.jsonl");
  for (int i = 0; i < 250 && egress.find("then refused") == std::string::npos; ++i) {
    std::this_thread::sleep_for(20ms);
    egress = slurp(dir.path / "egress.jsonl");
  }
  CHECK(egress.find("then refused") != std::string::npos);
  const auto stderr_log = slurp(dir.path / "stderr.log");
  CHECK(egress.find("\"intercepted\":true") != std::string::npos);
  CHECK(egress.find(kSecret) == std::string::npos);
  CHECK(stderr_log.find(kSecret) == std::string::npos);
  CHECK_FALSE(stderr_log.empty());
}

TEST_CASE("sbx proxy refuses with the Sandboxfile's line, and egress suggest turns the log into a diff", "[proxy][e2e]") {
  Upstream up("plain", false);
  TempDir dir;
  const auto port = std::to_string(up.port);
  const auto sf = dir.path / "Sandboxfile";
  std::ofstream(sf) << "version = 1\n[egress]\nallow = [\"127.0.0.0/8:" << port << "\"]\ndeny = [\"bad.test:" << port << "\"]\n";
  {
    SbxProxy px(dir.path, {"--resolve", "a.pkg.test=127.0.0.1", "--resolve", "b.pkg.test=127.0.0.1", "--resolve",
                           "bad.test=127.0.0.1", "--resolve", "api.test=127.0.0.1"});
    REQUIRE(px.port != 0);
    int rc = 0;
    auto out = sh(kCurl + "-x " + px.url() + " http://bad.test:" + port + "/", &rc);
    CHECK(out.find("refused bad.test:" + port) != std::string::npos);
    CHECK(out.find("rule: " + sf.string() + ":4") != std::string::npos);
    for (const char* h : {"a.pkg.test", "b.pkg.test", "api.test"}) {
      out = sh(kCurl + "-x " + px.url() + " http://" + h + ":" + port + "/", &rc);
      CHECK(out.find("allow = [\"" + std::string(h) + ":" + port + "\"]") != std::string::npos);
    }
  }
  int rc = -1;
  const auto diff = sh(std::string(SBX_BINARY) + " egress suggest --log " + (dir.path / "egress.jsonl").string() +
                           " --sandboxfile " + sf.string() + " 2>/dev/null",
                       &rc);
  CHECK(rc == 0);
  CHECK(diff.find("+allow = [\"127.0.0.0/8:" + port + "\", \"*.pkg.test:" + port + "\", \"api.test:" + port + "\"]") !=
        std::string::npos);
  // One line changes: the refused-by-deny host is not suggested.
  size_t added = 0;
  for (size_t pos = diff.find("\n+"); pos != std::string::npos; pos = diff.find("\n+", pos + 1)) ++added;
  CHECK(added == 2);  // "+++ b/Sandboxfile" and the new allow line
  // The diff applies and the result loads.
  sh("cd " + dir.path.string() + " && mkdir -p a && cp Sandboxfile a/ && " + SBX_BINARY + " egress suggest --log egress.jsonl "
     "--sandboxfile Sandboxfile 2>/dev/null | patch -s -p1 -d a", &rc);
  CHECK(rc == 0);
  sh(std::string(SBX_BINARY) + " validate " + (dir.path / "a" / "Sandboxfile").string() + " >/dev/null 2>&1", &rc);
  CHECK(rc == 0);
}

TEST_CASE("sbx proxy --resolve is refused outside tests", "[proxy][e2e]") {
  int rc = 0;
  const auto out = sh("env -u SBX_PROXY_TEST_RESOLVE " + std::string(SBX_BINARY) +
                      " proxy --sandboxfile " SBX_SOURCE_DIR "/examples/hello --listen 127.0.0.1:0 --resolve a.test=127.0.0.1 2>&1", &rc);
  CHECK(rc == 2);
  CHECK(out.find("tests only") != std::string::npos);
}
