// proxy_bench: the egress proxy against squid and a direct connection, in one run, on loopback.
//   - short HTTPS requests through CONNECT (new TCP + CONNECT + TLS handshake + GET each):
//     requests/s, p50/p99 latency, and the latency added over direct (same run);
//   - throughput of a large transfer through a tunnel, as a share of direct;
//   - the cost of one allowlist decision with 10, 1 000 and 10 000 rules.
// Medians over --runs runs; paths interleaved within each run so drift hits all alike; every
// path uses the same client code. squid (Debian's /usr/sbin/squid) gets a temporary config with
// the same allowlist. "floor" is the least any user-space CONNECT proxy can do here: a forked
// 60-line forwarder (one connection at a time, no decisions, no logging; poll + recv/send for
// short requests, splice through a pipe for the transfer): what it adds over direct is the
// machine's price for an extra process hop, which no proxy can beat.
// CPU is read from /proc/PID/task/*/schedstat (ns resolution): the proxy process's, and this
// process's (client and servers) for the direct path.
//
//   build-*/tests/proxy/proxy_bench [--runs 5] [--requests 400] [--mib 512] [--sbx PATH] [--pin]
// --pin: proxies on CPU 1, this process (client and servers) on CPU 0.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
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
#include <sched.h>
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

// CPU seconds a process has run so far, all threads (schedstat: ns resolution, unlike /proc/PID/stat).
double cpu_seconds(pid_t pid) {
  if (pid <= 0) return 0;
  double total = 0;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(t.path() / "schedstat");
    unsigned long long ns = 0;
    if (in >> ns) total += static_cast<double>(ns) * 1e-9;
  }
  return total;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

void pin(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  // All threads: sched_setaffinity on each task id.
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec))
    sched_setaffinity(std::atoi(t.path().filename().c_str()), sizeof set, &set);
}

// The floor: a minimal CONNECT forwarder (no decisions, no logs), one connection at a time.
[[noreturn]] void floor_forwarder(int lfd) {
  int pipes[2][2];
  for (auto& p : pipes) {
    pipe2(p, O_CLOEXEC);
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  }
  const int one = 1;
  setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  while (true) {
    const int c = accept(lfd, nullptr, nullptr);
    if (c < 0) continue;
    char head[4096];
    ssize_t n = recv(c, head, sizeof head - 1, 0);  // the bench sends the head in one write
    const char* colon = n > 0 ? static_cast<const char*>(memchr(head, ':', static_cast<size_t>(n))) : nullptr;
    const int port = colon ? std::atoi(colon + 1) : 0;
    const int u = port ? connect_local(static_cast<std::uint16_t>(port)) : -1;
    if (u < 0) {
      close(c);
      continue;
    }
    setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static const char k200[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    send(c, k200, sizeof k200 - 1, MSG_NOSIGNAL);
    pollfd pf[2] = {{c, POLLIN, 0}, {u, POLLIN, 0}};
    bool open[2] = {true, true};
    std::uint64_t through[2] = {0, 0};
    char buf[65536];
    while (open[0] || open[1]) {
      if (poll(pf, 2, 30000) <= 0) break;
      for (int i = 0; i < 2; ++i) {
        if (!open[i] || !pf[i].revents) continue;
        const int src = pf[i].fd, dst = pf[1 - i].fd;
        if (through[i] >= (1 << 20)) {  // bulk: zero-copy through the pipe, like sbx after 1 MiB
          n = splice(src, nullptr, pipes[i][1], nullptr, 1 << 20, SPLICE_F_MOVE);
          for (ssize_t left = n; left > 0;) {
            const ssize_t w = splice(pipes[i][0], nullptr, dst, nullptr, static_cast<size_t>(left), SPLICE_F_MOVE);
            if (w <= 0) break;
            left -= w;
          }
        } else {
          n = recv(src, buf, sizeof buf, 0);
          if (n > 0) send_all(dst, std::string(buf, static_cast<size_t>(n)));
        }
        if (n > 0) through[i] += static_cast<std::uint64_t>(n);
        if (n <= 0) {
          open[i] = false;
          pf[i].fd = -1;
          shutdown(dst, SHUT_WR);
        }
      }
    }
    close(c);
    close(u);
  }
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
            const ssize_t w = send(c, block.data(), std::min<std::uint64_t>(block.size(), bytes - sent), MSG_NOSIGNAL);
            if (w <= 0) break;
            sent += static_cast<std::uint64_t>(w);
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
  // Read exactly the response head, so no tunnel bytes are swallowed: peek, then take the head
  // (two calls, not one per byte: at ~1.5 us per syscall here, byte-wise reads would add ~60 us
  // of client time to every proxied request and blur what the proxies themselves add).
  std::string head;
  char buf[4096];
  for (int tries = 0; tries < 20000 && head.find("\r\n\r\n") == std::string::npos; ++tries) {
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK);
    if (n <= 0) break;
    head.assign(buf, static_cast<size_t>(n));
    const auto end = head.find("\r\n\r\n");
    if (end != std::string::npos) {
      [[maybe_unused]] auto taken = recv(fd, buf, end + 4, 0);
      head.resize(end + 4);
      break;
    }
    if (n == static_cast<ssize_t>(sizeof buf)) break;
    usleep(50);  // only part of the head is there yet
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
  bool pinned = false;
  std::string command;
  for (int i = 0; i < argc; ++i) command += std::string(i ? " " : "") + argv[i];
  const std::string load_before = loadavg();
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--pin") pinned = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--pin") {
      --i;
      continue;
    }
    if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else if (a == "--requests") requests = std::atoi(argv[i + 1]);
    else if (a == "--mib") mib = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--sbx") sbx = argv[i + 1];
  }
  signal(SIGPIPE, SIG_IGN);
  // The floor forwarder: forked before any thread exists.
  std::uint16_t floor_port = 0;
  const int floor_lfd = listen_any(floor_port);
  const pid_t floor_pid = fork();
  if (floor_pid == 0) floor_forwarder(floor_lfd);
  close(floor_lfd);
  const Pki& pki = Pki::get();
  TempDir dir;
  chmod(dir.path.c_str(), 0777);  // squid drops to the 'proxy' user
  HttpsServer https(pki, 4);
  BulkServer bulk((mib << 20) / 2);  // two half-size transfers per path per run

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
  Child floor_proc;
  floor_proc.pid = floor_pid;
  std::vector<Path> paths = {{"direct", 0, getpid()}, {"floor", floor_port, floor_pid}, {"sbx", sbx_port, sbx_proc.pid}};
  if (squid_up) paths.push_back({"squid", squid_port, squid_proc.pid});
  if (pinned) {
    for (const auto& p : paths)
      if (p.name != "direct") pin(p.pid, 1);
    pin(getpid(), 0);
  }
  std::map<std::string, std::vector<double>> rps, p50, p99, added50, added99, tput, tshare, cpu_req, cpu_gib;
  for (int r = 0; r < runs; ++r) {
    std::map<std::string, std::pair<double, double>> lat;
    double direct_tput = 0;
    // Requests interleaved one by one across the paths (rotating which goes first), so load
    // from elsewhere on this shared machine falls on every path alike.
    std::map<std::string, std::vector<double>> ts;
    std::map<std::string, int> failures;
    std::map<std::string, double> cpu0;
    for (const auto& path : paths)
      for (int i = 0; i < 20; ++i) https_request(cctx, path.port, https.port);  // warm up
    for (const auto& path : paths) cpu0[path.name] = cpu_seconds(path.pid);
    for (int i = 0; i < requests; ++i)
      for (size_t k = 0; k < paths.size(); ++k) {
        const auto& path = paths[(k + static_cast<size_t>(i)) % paths.size()];
        const double t = https_request(cctx, path.port, https.port);
        if (t < 0) ++failures[path.name];
        else ts[path.name].push_back(t * 1e6);
      }
    for (const auto& path : paths) {
      double cpu = cpu_seconds(path.pid) - cpu0[path.name];
      if (path.name == "direct") cpu /= static_cast<double>(paths.size());  // the client+servers of every path
      cpu_req[path.name].push_back(cpu * 1e6 / requests);
      if (failures[path.name]) std::cerr << path.name << ": " << failures[path.name] << " failed requests\n";
      double total = 0;
      for (double t : ts[path.name]) total += t * 1e-6;
      rps[path.name].push_back(static_cast<double>(ts[path.name].size()) / total);
      lat[path.name] = {pct(ts[path.name], 0.5), pct(ts[path.name], 0.99)};
      p50[path.name].push_back(lat[path.name].first);
      p99[path.name].push_back(lat[path.name].second);
    }
    // Transfers: each path twice (half the size each), in an order that rotates every run, so
    // a burst of outside load does not always hit the same path; share of direct from this run.
    std::map<std::string, double> mbs_sum, cpu_sum;
    for (int half = 0; half < 2; ++half)
      for (size_t k = 0; k < paths.size(); ++k) {
        const auto& path = paths[(k + static_cast<size_t>(r) + static_cast<size_t>(half)) % paths.size()];
        const double cpu1 = cpu_seconds(path.pid);
        mbs_sum[path.name] += bulk_transfer(path.port, bulk.port, (mib << 20) / 2) / 2;
        cpu_sum[path.name] += (cpu_seconds(path.pid) - cpu1) * 1e3 * 1024 / static_cast<double>(mib);
      }
    direct_tput = mbs_sum["direct"];
    for (const auto& path : paths) {
      cpu_gib[path.name].push_back(cpu_sum[path.name]);
      tput[path.name].push_back(mbs_sum[path.name]);
      tshare[path.name].push_back(mbs_sum[path.name] / direct_tput * 100);
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
  std::printf("command: %s\nload average before: %s, after: %s; %s\n", command.c_str(), load_before.c_str(),
              loadavg().c_str(), pinned ? "proxies pinned to CPU 1, client+servers to CPU 0" : "not pinned");
  std::printf("%-8s %9s %9s %9s %10s %10s %9s %9s %13s %13s\n", "path", "req/s", "p50 us", "p99 us", "added p50",
              "added p99", "MiB/s", "% direct", "CPU us", "CPU ms");
  std::printf("%-8s %9s %9s %9s %10s %10s %9s %9s %13s %13s\n", "", "", "", "", "", "", "", "", "per request", "per GiB");
  for (const auto& path : paths)
    std::printf("%-8s %9.0f %9.0f %9.0f %10.0f %10.0f %9.0f %8.0f%% %13.0f %13.0f\n", path.name.c_str(),
                median(rps[path.name]), median(p50[path.name]), median(p99[path.name]), median(added50[path.name]),
                median(added99[path.name]), median(tput[path.name]), median(tshare[path.name]), median(cpu_req[path.name]),
                median(cpu_gib[path.name]));
  std::printf("req/s: one client, sequential (1 / mean latency). CPU: the proxy process's; for direct, this process's\n"
              "(client + servers) per request or GiB, which every path also pays.\n");
  std::printf("\nallowlist decision (decide_host, 1/3 exact, 1/3 wildcard, 1/3 regex; 3/4 hits, 1/4 misses):\n");
  for (int n : {10, 1000, 10000}) {
    std::vector<double> v;
    for (int r = 0; r < runs; ++r) v.push_back(decision_ns(n));
    std::printf("  %6d rules: %8.0f ns per decision\n", n, median(v));
  }
  return 0;
}
