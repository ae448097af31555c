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
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <thread>

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

WsUpstream::WsUpstream(const std::filesystem::path& record) {
  const Pki& pki = Pki::get();
  port = start_python_server(std::string(SBX_PROXY_TEST_DIR) + "/ws_upstream.py",
                             {pki.srv_crt.string(), pki.srv_key.string(), record.string()}, pid_);
}

WsUpstream::~WsUpstream() {
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

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<nlohmann::json> wait_records(const std::filesystem::path& f, size_t n) {
  for (int i = 0; i < 150 && read_lines(f).size() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<nlohmann::json> out;
  for (const auto& l : read_lines(f)) out.push_back(nlohmann::json::parse(l));
  return out;
}

SecretSource fixed_secret(std::string value) {
  return [value](const std::string&) -> sbx::Result<LockedBuffer> {
    LockedBuffer b(value.size());
    b.append(value);
    return b;
  };
}

TunnelClient::TunnelClient(std::uint16_t proxy_port, const std::string& host, std::uint16_t port,
                           const std::string& ca_pem) {
  fd = connect_local(proxy_port);
  const auto authority = host + ":" + std::to_string(port);
  send_all(fd, "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  reply = recv_until(fd, "\r\n\r\n", 5000);
  if (!reply.starts_with("HTTP/1.1 200")) return;
  ctx = SSL_CTX_new(TLS_client_method());
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
  X509_free(ca);
  BIO_free(bio);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, host.c_str());
  SSL_set1_host(ssl, host.c_str());
  timeval tv{0, 200'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (SSL_connect(ssl) != 1) {
    SSL_free(ssl);
    ssl = nullptr;
  }
}

TunnelClient::~TunnelClient() {
  if (ssl) SSL_free(ssl);
  if (ctx) SSL_CTX_free(ctx);
  if (fd >= 0) close(fd);
}

bool TunnelClient::send(const std::string& s) {
  return ssl && SSL_write(ssl, s.data(), static_cast<int>(s.size())) == static_cast<int>(s.size());
}

std::string TunnelClient::read(const std::string& until, int timeout_ms) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[8192];
  while (ssl && std::chrono::steady_clock::now() < deadline && (until.empty() || out.find(until) == std::string::npos)) {
    errno = 0;
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    const int e = SSL_get_error(ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno != EAGAIN && errno != EWOULDBLOCK)) break;
    if (e == SSL_ERROR_SSL) break;
  }
  return out;
}

}  // namespace sbx::proxy::test
