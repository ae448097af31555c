// proxy_bench: the egress proxy against squid and a direct connection, in one run, on loopback.
//   - short HTTPS requests through CONNECT (new TCP + CONNECT + TLS handshake + GET each):
//     requests/s, p50/p99 latency, and the latency added over direct (same run);
//   - throughput of a large transfer through a tunnel, as a share of direct;
//   - the cost of one allowlist decision with 10, 1 000 and 10 000 rules.
// Medians over --runs runs; paths interleaved within each run so drift hits all alike.
// squid (Debian's /usr/sbin/squid) gets a temporary config with the same allowlist.
//
//   build-*/tests/proxy/proxy_bench [--runs 5] [--requests 400] [--mib 512] [--sbx PATH]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "config/egress_rule.h"
#include "proxy/rules.h"
#include "test_support.h"

using namespace sbx::proxy;
using namespace sbx::proxy::test;
using Clock = std::chrono::steady_clock;

namespace {

int listen_any(std::uint16_t& port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  listen(fd, 1024);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

bool wait_port(std::uint16_t port, int ms) {
  for (int i = 0; i < ms / 20; ++i) {
    const int fd = connect_local(port);
    if (fd >= 0) {
      close(fd);
      return true;
    }
    usleep(20000);
  }
  return false;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}
double median(std::vector<double> v) { return pct(std::move(v), 0.5); }

// CPU seconds (user + system) a process has used so far; 0 for pid <= 0 (the direct path).
double cpu_seconds(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close_paren = s.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream f(s.substr(close_paren + 2));
  std::string field;
  double ut = 0, st = 0;
  for (int i = 3; i <= 15 && f >> field; ++i) {
    if (i == 14) ut = std::stod(field);
    if (i == 15) st = std::stod(field);
  }
  return (ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// HTTPS server: a few threads blocking in accept(), one short response per connection.
struct HttpsServer {
  SSL_CTX* ctx = nullptr;
  int lfd = -1;
  std::uint16_t port = 0;
  std::vector<std::thread> workers;
  std::atomic<bool> stop{false};
  HttpsServer(const Pki& pki, int threads) {
    ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(ctx, pki.srv_crt.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, pki.srv_key.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    lfd = listen_any(port);
    for (int i = 0; i < threads; ++i)
      workers.emplace_back([this] {
        while (!stop) {
          const int c = accept(lfd, nullptr, nullptr);
          if (c < 0) continue;
          if (stop) {
            close(c);
            break;
          }
          const int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          SSL* s = SSL_new(ctx);
          SSL_set_fd(s, c);
          if (SSL_accept(s) == 1) {
            std::string req;
            char buf[4096];
            while (req.find("\r\n\r\n") == std::string::npos) {
              const int n = SSL_read(s, buf, sizeof buf);
              if (n <= 0) break;
              req.append(buf, static_cast<size_t>(n));
            }
            static const char kResp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            SSL_write(s, kResp, sizeof kResp - 1);
            SSL_shutdown(s);
          }
          SSL_free(s);
          close(c);
        }
      });
  }
  ~HttpsServer() {
    stop = true;
    for (size_t i = 0; i < workers.size(); ++i) close(connect_local(port));
    for (auto& t : workers) t.join();
    close(lfd);
    SSL_CTX_free(ctx);
  }
};

// Bulk server: on each connection, wait for one byte, then send `bytes` and close.
struct BulkServer {
  int lfd = -1;
  std::uint16_t port = 0;
  std::uint64_t bytes;
  std::thread t;
  std::atomic<bool> stop{false};
  explicit BulkServer(std::uint64_t n) : bytes(n) {
    lfd = listen_any(port);
    t = std::thread([this] {
      std::vector<char> block(1 << 20, 'x');
      while (!stop) {
        const int c = accept(lfd, nullptr, nullptr);
        if (c < 0 || stop) {
          if (c >= 0) close(c);
          continue;
        }
        char go;
        if (recv(c, &go, 1, 0) == 1) {
          std::uint64_t sent = 0;
          while (sent < bytes) {
            const ssize_t n = send(c, block.data(), std::min<std::uint64_t>(block.size(), bytes - sent), MSG_NOSIGNAL);
            if (n <= 0) break;
            sent += static_cast<std::uint64_t>(n);
          }
        }
        close(c);
      }
    });
  }
  ~BulkServer() {
    stop = true;
    close(connect_local(port));
    t.join();
    close(lfd);
  }
};

// Open a connection to `target_port` directly (proxy_port 0) or through a proxy's CONNECT.
int open_path(std::uint16_t proxy_port, std::uint16_t target_port) {
  if (!proxy_port) {
    const int fd = connect_local(target_port);
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  const int fd = connect_local(proxy_port);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string req = "CONNECT bench.test:" + std::to_string(target_port) + " HTTP/1.1\r\nHost: bench.test:" +
                          std::to_string(target_port) + "\r\n\r\n";
  send_all(fd, req);
  // Read exactly the response head, byte-exact so no tunnel bytes are swallowed.
  std::string head;
  char c;
  while (head.size() < 4096 && head.find("\r\n\r\n") == std::string::npos) {
    if (recv(fd, &c, 1, 0) != 1) break;
    head += c;
  }
  if (head.find(" 200") == std::string::npos) {
    close(fd);
    return -1;
  }
  return fd;
}

// One short HTTPS request; returns seconds, or -1 on failure.
double https_request(SSL_CTX* ctx, std::uint16_t proxy_port, std::uint16_t target_port) {
  const auto t0 = Clock::now();
  const int fd = open_path(proxy_port, target_port);
  if (fd < 0) return -1;
  SSL* s = SSL_new(ctx);
  SSL_set_fd(s, fd);
  SSL_set_tlsext_host_name(s, "bench.test");
  SSL_set1_host(s, "bench.test");
  double result = -1;
  if (SSL_connect(s) == 1) {
    static const char kReq[] = "GET / HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n";
    SSL_write(s, kReq, sizeof kReq - 1);
    std::string resp;
    char buf[4096];
    int n;
    while ((n = SSL_read(s, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
    if (resp.starts_with("HTTP/1.1 200") && resp.ends_with("ok"))
      result = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  SSL_free(s);
  close(fd);
  return result;
}

double bulk_transfer(std::uint16_t proxy_port, std::uint16_t target_port, std::uint64_t bytes) {
  const int fd = open_path(proxy_port, target_port);
  if (fd < 0) return -1;
  std::vector<char> buf(1 << 20);
  const auto t0 = Clock::now();
  send_all(fd, "g");
  std::uint64_t got = 0;
  while (got < bytes) {
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    got += static_cast<std::uint64_t>(n);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  close(fd);
  return got == bytes ? static_cast<double>(bytes) / secs / (1 << 20) : -1;
}

struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      for (int i = 0; i < 100; ++i) {
        if (waitpid(pid, nullptr, WNOHANG) == pid) return;
        usleep(20000);
      }
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& out, const std::filesystem::path& err,
            const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    for (auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// The cost of one decision, in ns, for `n` rules (a third each exact, wildcard, regex).
double decision_ns(int n) {
  sbx::config::Egress e;
  for (int i = 0; i < n; ++i) {
    const std::string t = i % 3 == 0 ? "host" + std::to_string(i) + ".example.com"
                        : i % 3 == 1 ? "*.d" + std::to_string(i) + ".example.org"
                                     : "re:^r" + std::to_string(i) + "-[a-z]+\\.example\\.net$";
    auto r = sbx::config::parse_egress_rule(t);
    r->text = t;
    e.allow.push_back(*r);
  }
  auto rs = RuleSet::compile(e);
  if (!rs) {
    std::cerr << "compile failed: " << rs.error().message << "\n";
    return -1;
  }
  std::vector<std::string> hosts;
  for (int i = 0; i < 64; ++i) {
    const int k = (i * 7919) % n;
    switch (i % 4) {
      case 0: hosts.push_back("host" + std::to_string(k - k % 3) + ".example.com"); break;
      case 1: hosts.push_back("api.d" + std::to_string(k - k % 3 + 1) + ".example.org"); break;
      case 2: hosts.push_back("r" + std::to_string(k - k % 3 + 2) + "-abc.example.net"); break;
      default: hosts.push_back("nothing" + std::to_string(i) + ".unlisted.io"); break;
    }
  }
  int allowed = 0;
  for (auto& h : hosts) allowed += (*rs)->decide_host(h, 443).allowed;  // warm the DFA caches
  const int iters = 200000;
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) allowed += (*rs)->decide_host(hosts[static_cast<size_t>(i) & 63], 443).allowed;
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / iters;
  if (allowed == 0) std::cerr << "no host allowed?\n";
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5, requests = 400;
  std::uint64_t mib = 512;
  std::string sbx = SBX_BINARY;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else if (a == "--requests") requests = std::atoi(argv[i + 1]);
    else if (a == "--mib") mib = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--sbx") sbx = argv[i + 1];
  }
  signal(SIGPIPE, SIG_IGN);
  const Pki& pki = Pki::get();
  TempDir dir;
  chmod(dir.path.c_str(), 0777);  // squid drops to the 'proxy' user
  HttpsServer https(pki, 4);
  BulkServer bulk(mib << 20);

  // sbx: the real binary with a Sandboxfile allowing exactly the two servers.
  const auto sf = dir.path / "Sandboxfile";
  std::ofstream(sf) << "version = 1\n[egress]\nallow = [\"bench.test:" << https.port << "," << bulk.port << "\", \"127.0.0.0/8:"
                    << https.port << "," << bulk.port << "\"]\n";
  Child sbx_proc;
  sbx_proc.pid = spawn({sbx, "proxy", "--sandboxfile", sf.string(), "--listen", "127.0.0.1:0", "--resolve", "bench.test=127.0.0.1",
                        "--state-dir", (dir.path / "state").string()},
                       dir.path / "sbx.out", dir.path / "sbx.err", {{"SBX_PROXY_TEST_RESOLVE", "1"}, {"SBX_LOG", "warn"}});
  std::uint16_t sbx_port = 0;
  for (int i = 0; i < 250 && !sbx_port; ++i) {
    usleep(20000);
    const auto lines = read_lines(dir.path / "sbx.out");
    if (!lines.empty()) sbx_port = static_cast<std::uint16_t>(std::atoi(lines[0].substr(lines[0].rfind(':') + 1).c_str()));
  }
  // squid: the same allowlist (bench.test, those ports), names from a hosts file, no cache.
  std::uint16_t squid_port = 0;
  close(listen_any(squid_port));
  std::ofstream(dir.path / "hosts") << "127.0.0.1 bench.test\n";
  std::ofstream(dir.path / "squid.conf")
      << "http_port 127.0.0.1:" << squid_port << "\npid_filename none\ncache deny all\ncache_mem 8 MB\n"
      << "access_log none\ncache_log " << (dir.path / "squid-cache.log").string() << "\ncoredump_dir " << dir.path.string()
      << "\nhosts_file " << (dir.path / "hosts").string() << "\ndns_nameservers 127.0.0.1\nshutdown_lifetime 0 seconds\n"
      << "acl allowed_hosts dstdomain bench.test\nacl allowed_ports port " << https.port << " " << bulk.port << "\n"
      << "acl CONNECT method CONNECT\nhttp_access allow allowed_hosts allowed_ports\nhttp_access deny all\n";
  for (auto f : {"hosts", "squid.conf"}) chmod((dir.path / f).c_str(), 0644);
  Child squid_proc;
  squid_proc.pid = spawn({"/usr/sbin/squid", "-N", "-f", (dir.path / "squid.conf").string()}, dir.path / "squid.out",
                         dir.path / "squid.err");
  const bool squid_up = wait_port(squid_port, 15000);
  if (!sbx_port || !wait_port(sbx_port, 5000)) {
    std::cerr << "sbx proxy did not start: " << sh("cat " + (dir.path / "sbx.err").string()) << "\n";
    return 1;
  }
  if (!squid_up) std::cerr << "squid did not start: " << sh("cat " + (dir.path / "squid.err").string() + " " + (dir.path / "squid-cache.log").string()) << "\n";

  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(cctx, pki.ca_crt.c_str(), nullptr);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);

  struct Path {
    std::string name;
    std::uint16_t port;
    pid_t pid;
  };
  std::vector<Path> paths = {{"direct", 0, 0}, {"sbx", sbx_port, sbx_proc.pid}};
  if (squid_up) paths.push_back({"squid", squid_port, squid_proc.pid});
  std::map<std::string, std::vector<double>> rps, p50, p99, added50, added99, tput, tshare, cpu_req, cpu_gib;
  for (int r = 0; r < runs; ++r) {
    std::map<std::string, std::pair<double, double>> lat;
    double direct_tput = 0;
    for (const auto& path : paths) {
      for (int i = 0; i < 20; ++i) https_request(cctx, path.port, https.port);  // warm up
      std::vector<double> ts;
      const double cpu0 = cpu_seconds(path.pid);
      const auto t0 = Clock::now();
      int failures = 0;
      for (int i = 0; i < requests; ++i) {
        const double t = https_request(cctx, path.port, https.port);
        if (t < 0) ++failures;
        else ts.push_back(t * 1e6);
      }
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      cpu_req[path.name].push_back((cpu_seconds(path.pid) - cpu0) * 1e6 / requests);
      if (failures) std::cerr << path.name << ": " << failures << " failed requests\n";
      rps[path.name].push_back(static_cast<double>(ts.size()) / secs);
      lat[path.name] = {pct(ts, 0.5), pct(ts, 0.99)};
      p50[path.name].push_back(pct(ts, 0.5));
      p99[path.name].push_back(pct(ts, 0.99));
      const double cpu1 = cpu_seconds(path.pid);
      const double mbs = bulk_transfer(path.port, bulk.port, mib << 20);
      cpu_gib[path.name].push_back((cpu_seconds(path.pid) - cpu1) * 1e3 * 1024 / static_cast<double>(mib));
      tput[path.name].push_back(mbs);
      if (path.name == "direct") direct_tput = mbs;
      tshare[path.name].push_back(mbs / direct_tput * 100);
    }
    for (const auto& path : paths) {
      added50[path.name].push_back(lat[path.name].first - lat["direct"].first);
      added99[path.name].push_back(lat[path.name].second - lat["direct"].second);
    }
    std::cerr << "run " << r + 1 << "/" << runs << " done\n";
  }
  SSL_CTX_free(cctx);

  std::printf("\nproxy_bench: %d runs (medians), %d HTTPS requests per path per run (new TCP + CONNECT + TLS 1.3 + GET), %llu MiB transfer\n",
              runs, requests, static_cast<unsigned long long>(mib));
  std::printf("%-8s %9s %9s %9s %10s %10s %9s %9s %13s %13s\n", "path", "req/s", "p50 us", "p99 us", "added p50",
              "added p99", "MiB/s", "% direct", "proxy CPU us", "proxy CPU ms");
  std::printf("%-8s %9s %9s %9s %10s %10s %9s %9s %13s %13s\n", "", "", "", "", "", "", "", "", "per request", "per GiB");
  for (const auto& path : paths)
    std::printf("%-8s %9.0f %9.0f %9.0f %10.0f %10.0f %9.0f %8.0f%% %13.0f %13.0f\n", path.name.c_str(),
                median(rps[path.name]), median(p50[path.name]), median(p99[path.name]), median(added50[path.name]),
                median(added99[path.name]), median(tput[path.name]), median(tshare[path.name]), median(cpu_req[path.name]),
                median(cpu_gib[path.name]));
  std::printf("\nallowlist decision (decide_host, 1/3 exact, 1/3 wildcard, 1/3 regex; 3/4 hits, 1/4 misses):\n");
  for (int n : {10, 1000, 10000}) {
    std::vector<double> v;
    for (int r = 0; r < runs; ++r) v.push_back(decision_ns(n));
    std::printf("  %6d rules: %8.0f ns per decision\n", n, median(v));
  }
  return 0;
}
