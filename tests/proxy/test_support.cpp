#include "test_support.h"

#include <arpa/inet.h>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "config/egress_rule.h"

namespace sbx::proxy::test {

TempDir::TempDir() {
  char tmpl[] = "/tmp/sbx-proxy-test-XXXXXX";
  path = mkdtemp(tmpl);
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string sh(const std::string& cmd, int* status) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
  const int rc = pclose(f);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

const Pki& Pki::get() {
  static Pki pki;
  static std::once_flag once;
  std::call_once(once, [] {
    static TempDir dir;
    const auto d = dir.path.string();
    pki.ca_crt = dir.path / "ca.crt";
    pki.srv_crt = dir.path / "srv.crt";
    pki.srv_key = dir.path / "srv.key";
    const std::string cmd =
        "cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt "
        "-days 2 -subj '/CN=sbx test CA' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj '/CN=test' 2>/dev/null && "
        "printf 'subjectAltName=DNS:allowed.test,DNS:*.wild.test,DNS:api1.re.test,DNS:secret.test,DNS:other.test,"
        "DNS:front.test,DNS:rebind.test,DNS:bench.test,DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext && "
        "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out srv.crt -extfile ext 2>/dev/null";
    int rc = 0;
    sh(cmd, &rc);
    if (rc != 0) std::fprintf(stderr, "test PKI generation failed\n");
  });
  return pki;
}

namespace {
// Start a Python test server `script` with `args`; its first stdout line is its loopback port.
// Sets `pid`; returns the port, 0 if the server said nothing within 10 s.
std::uint16_t start_python_server(const std::string& script, const std::vector<std::string>& args, int& pid) {
  int out[2];
  if (pipe(out) != 0) return 0;
  pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    std::vector<std::string> all = {"python3", script};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv("/usr/bin/python3", argv.data());
    _exit(127);
  }
  close(out[1]);
  std::string line;
  char c;
  pollfd p{out[0], POLLIN, 0};
  while (poll(&p, 1, 10000) > 0 && read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  return static_cast<std::uint16_t>(std::atoi(line.c_str()));
}
}  // namespace

Upstream::Upstream(const std::string& name, bool tls) {
  const Pki& pki = Pki::get();
  std::vector<std::string> args = {name};
  if (tls) args.insert(args.end(), {pki.srv_crt.string(), pki.srv_key.string()});
  port = start_python_server(std::string(SBX_PROXY_TEST_DIR) + "/upstream.py", args, pid_);
}

Upstream::~Upstream() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
}

RawUpstream::RawUpstream(const std::vector<RawStep>& steps, const std::filesystem::path& log,
                         const std::filesystem::path& heads, bool tls) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& s : steps) {
    std::string latin1;  // the script reads latin-1: map each byte to one code point
    for (unsigned char ch : s.send) {
      if (ch < 0x80) latin1 += static_cast<char>(ch);
      else {
        latin1 += static_cast<char>(0xc0 | (ch >> 6));
        latin1 += static_cast<char>(0x80 | (ch & 0x3f));
      }
    }
    j.push_back({{"send", latin1}, {"delay", s.delay_ms / 1000.0}, {"close", s.close}});
  }
  std::vector<std::string> args = {j.dump(), log.string(), heads.string()};
  if (tls) args.insert(args.end(), {Pki::get().srv_crt.string(), Pki::get().srv_key.string()});
  port = start_python_server(std::string(SBX_PROXY_TEST_DIR) + "/raw_upstream.py", args, pid_);
}

RawUpstream::~RawUpstream() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
}

config::EgressRule rule(const std::string& text, int line) {
  auto r = config::parse_egress_rule(text);
  if (!r) throw std::runtime_error("bad test rule " + text + ": " + r.error().message);
  r->text = text;
  r->location = Location{"Sandboxfile", line, 1};
  return *r;
}

config::Egress egress(std::vector<std::string> allow, std::vector<std::string> deny) {
  config::Egress e;
  int line = 10;
  for (auto& a : allow) e.allow.push_back(rule(a, line++));
  for (auto& d : deny) e.deny.push_back(rule(d, line++));
  return e;
}

RunningProxy::RunningProxy(const config::Egress& egress, std::vector<std::string> resolve, ProxyOptions opt,
                           std::vector<config::Secret> secrets) {
  resolver = *StaticResolver::from_specs(resolve);
  opt.resolver = resolver;
  auto p = Proxy::create(std::move(opt), Policy{egress, std::move(secrets), "Sandboxfile"});
  if (!p) throw std::runtime_error(p.error().message);
  proxy = std::move(*p);
  port = *proxy->listen("127.0.0.1:0");
  proxy->start();
}

RunningProxy::~RunningProxy() { proxy.reset(); }

int connect_local(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string recv_until(int fd, const std::string& until, int timeout_ms) {
  std::string out;
  char buf[8192];
  while (until.empty() || out.find(until) == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) break;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string recv_all(int fd, int timeout_ms) { return recv_until(fd, "", timeout_ms); }

std::string roundtrip(std::uint16_t port, const std::string& request, int timeout_ms) {
  const int fd = connect_local(port);
  if (fd < 0) return "";
  send_all(fd, request);
  std::string r = recv_all(fd, timeout_ms);
  close(fd);
  return r;
}

std::vector<std::string> read_lines(const std::filesystem::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

}  // namespace sbx::proxy::test
