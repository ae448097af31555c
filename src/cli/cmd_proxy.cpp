// sbx proxy --sandboxfile PATH --listen ADDR: run the egress proxy standalone (for containers,
// host processes and tests), with hot reload of the Sandboxfile.
#include <csignal>
#include <fstream>
#include <iostream>
#include <mutex>
#include <pthread.h>
#include <thread>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/text.h"
#include "config/loader.h"
#include "proxy/dir_secret_source.h"
#include "proxy/proxy.h"
#include "proxy/transparent.h"
#include "secrets/harden.h"
#include "secrets/store.h"

namespace sbx::cli {
namespace {

Result<proxy::Policy> load_policy(const std::filesystem::path& path) {
  auto sf = SBX_TRY(config::load_file(path));
  return proxy::Policy{sf.egress, sf.secrets, sf.file};
}

Result<unsigned long> number(const Args& a, std::string_view name, unsigned long fallback, unsigned long max) {
  auto v = a.value(name);
  if (!v) return fallback;
  if (const auto n = text::parse_uint(*v, 1, max)) return static_cast<unsigned long>(*n);
  return fail(ErrorCode::usage, "--" + std::string(name) + " needs a number between 1 and " + std::to_string(max) +
                                    ", got '" + *v + "'");
}

// Secrets from the host store, opened on first use; the test source when explicitly enabled.
proxy::SecretSource store_source() {
  if (const char* t = std::getenv("SBX_PROXY_TEST_SECRETS"); t && std::string_view(t) == "1")
    return proxy::test_env_secret_source();
  auto mu = std::make_shared<std::mutex>();
  auto store = std::make_shared<std::optional<secrets::Store>>();
  return [mu, store](const std::string& name) -> Result<proxy::LockedBuffer> {
    std::lock_guard l(*mu);
    if (!*store) {
      auto s = secrets::Store::open({});
      if (!s) return std::unexpected(s.error());
      store->emplace(std::move(*s));
    }
    auto v = (*store)->get(name);
    if (!v) return std::unexpected(v.error());
    proxy::LockedBuffer b(v->size());
    if (!b.valid() || !b.append(v->reveal())) return fail(ErrorCode::runtime, "cannot allocate locked memory");
    return b;
  };
}

int run_proxy(const Args& a) {
  const Output out = Output::for_args(a);
  auto path = a.value("sandboxfile").value_or(".");
  auto policy = load_policy(path);
  if (!policy) return out.error(policy.error());
  auto pins = proxy::host_pins_from_env();
  if (!pins) return out.error(pins.error());
  policy->pins = *pins;
  proxy::ProxyOptions opt;
  opt.egress_log = a.value("log").value_or("");
  opt.force_learn = a.flag("learn");
  opt.upstream_ca_bundle = a.value("upstream-ca").value_or("");
  // Zero would refuse every client or close every connection at once; the ceilings keep deadlines from overflowing.
  auto max_conn = number(a, "max-connections", opt.max_connections, 1'000'000);
  auto idle = number(a, "idle-timeout", static_cast<unsigned long>(opt.idle_timeout.count() / 1000), 86'400);
  auto hs = number(a, "handshake-timeout", static_cast<unsigned long>(opt.handshake_timeout.count() / 1000), 3600);
  if (!max_conn) return out.error(max_conn.error());
  if (!idle) return out.error(idle.error());
  if (!hs) return out.error(hs.error());
  opt.max_connections = *max_conn;
  opt.idle_timeout = std::chrono::seconds(*idle);
  opt.handshake_timeout = std::chrono::seconds(*hs);
  const auto name = policy->file.parent_path().filename().string();
  opt.state_dir = a.value("state-dir").value_or((paths::state_dir() / "proxy" / (name.empty() ? "default" : name)).string());
  const auto resolves = a.all("resolve");
  if (!resolves.empty()) {
    // A fixed name table bypasses DNS: only for tests, and only when asked for explicitly.
    const char* gate = std::getenv("SBX_PROXY_TEST_RESOLVE");
    if (!gate || std::string_view(gate) != "1")
      return out.error(make_error(ErrorCode::usage, "--resolve is for tests only",
                               "set SBX_PROXY_TEST_RESOLVE=1 to use a fixed name table (never in production)"));
    auto r = proxy::StaticResolver::from_specs(resolves);
    if (!r) return out.error(r.error());
    opt.resolver = *r;
  }
  bool injects = false;
  for (const auto& s : policy->secrets) injects |= s.inject == config::InjectKind::header;
  if (injects) {
    if (auto h = secrets::harden_process(); !h) return out.error(h.error());
    const auto dir = a.value("secrets-dir");
    opt.secrets = dir ? proxy::dir_secret_source(*dir) : store_source();
  }

  // Signals go to one thread that turns them into stop / reload.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto p = proxy::Proxy::create(std::move(opt), *policy);
  if (!p) return out.error(p.error());
  auto& proxy = **p;
  if (injects) {
    // The CA is made at first use; with header secrets that is now, so the guest can trust it.
    auto pem = proxy.ca_certificate_pem();
    if (!pem) return out.error(pem.error());
    if (auto bundle = a.value("ca-bundle-out"); bundle) {
      // For a container beside the proxy: the system roots (blind tunnels) plus this CA (intercepted hosts).
      std::ifstream in("/etc/ssl/certs/ca-certificates.crt", std::ios::binary);
      const std::string roots((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (auto w = write_file_atomic(*bundle, roots + (roots.empty() || roots.back() == '\n' ? "" : "\n") + *pem); !w)
        return out.error(w.error());
    }
  }
  auto port = proxy.listen(a.value("listen").value_or("127.0.0.1:3128"));
  if (!port) return out.error(port.error());
  const auto file = policy->file;
  proxy.watch(file, [file, pins = *pins]() -> Result<proxy::Policy> {
    auto next = SBX_TRY(load_policy(file));
    next.pins = pins;
    return next;
  });
  std::cout << "listening " << a.value("listen").value_or("127.0.0.1:3128").substr(0, a.value("listen").value_or("127.0.0.1:3128").rfind(':'))
            << ":" << *port << std::endl;
  std::unique_ptr<proxy::TransparentListener> transparent;
  if (auto t = a.value("transparent")) {
    auto l = proxy::TransparentListener::start(proxy, *t);
    if (!l) return out.error(l.error());
    transparent = std::move(*l);
    std::cout << "transparent " << t->substr(0, t->rfind(':')) << ":" << transparent->port() << std::endl;
  }
  std::thread signals([&] {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP) {
        proxy.reload_now();
        continue;
      }
      proxy.stop();
      return;
    }
  });
  proxy.run();
  if (transparent) transparent->stop();
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  return 0;
}

}  // namespace

const CommandSpec kProxyCommand{
    "proxy",
    "Run the egress proxy for a Sandboxfile on a local port",
    "sbx proxy [--sandboxfile PATH] [--listen ADDR:PORT] [--log FILE] [--learn] [OPTIONS]",
    R"(Runs sbx's egress proxy on its own, enforcing the [egress] rules and [[secret]] header
bindings of a Sandboxfile for any program that uses it as HTTP_PROXY / HTTPS_PROXY
(containers, host processes, tests). Inside a sandbox the supervisor runs the same proxy.

It serves HTTP/1.1 CONNECT tunnels and absolute-form plain HTTP requests. Every
connection is decided: deny rules beat allow rules; ports other than 80 and 443 need a
rule that lists them; names are resolved by the proxy and every address is checked, and
loopback, private, link-local (cloud metadata), CGNAT, multicast and similar addresses,
and IP literals, are refused unless a CIDR rule allows them. A refusal is a 403 whose body
names the host, port, the rule (file:line) or default that refused it, and the line to add.

Hosts bound to a secret with inject = "header" are intercepted: TLS is terminated with a
per-sandbox CA (STATE-DIR/ca.crt, key 0600 beside it, created on first use), the header is
set on each request, and the request is re-encrypted to the verified upstream. Every other
host is a blind tunnel whose TLS server name must match the CONNECT host.

SBX_EGRESS_RESOLVE="name=addr[,addr];name=addr" pins names to fixed addresses instead of
DNS, like curl's --resolve (read once at start). A pinned address is checked like a resolved
one: loopback and private addresses still need a CIDR rule.

The Sandboxfile is watched: when it changes (or on SIGHUP) its rules apply to new
connections; a file that no longer loads keeps the old rules and logs why.

With --transparent, connections redirected to that port (iptables/nftables REDIRECT, as the
Kubernetes sidecar's init container sets up) are served too: the host name is read from the
TLS ClientHello (SNI) or the HTTP Host header, the port from the original destination, and
the connection is decided like a CONNECT to them; with no name, like a CONNECT to the
original address (refused unless a CIDR rule allows it).

Each decision is one JSON line in the egress log (--log): time, method, host, port,
address, decision, rule, reason, bytes each way, duration.

EXIT STATUS
    0 stopped by SIGINT/SIGTERM; 1 the Sandboxfile is invalid or the port is taken; 2 usage.

EXAMPLES
    sbx proxy --sandboxfile ./Sandboxfile --listen 127.0.0.1:3128 --log egress.jsonl
    HTTPS_PROXY=http://127.0.0.1:3128 curl https://api.github.com/
    sbx proxy --learn --log egress.jsonl & ... ; sbx egress suggest --log egress.jsonl)",
    {
        {"sandboxfile", 'f', "PATH", "The Sandboxfile, or a directory holding one (default: .)."},
        {"listen", 'l', "ADDR:PORT", "Where to listen (default 127.0.0.1:3128; port 0 picks a free one, printed on stdout)."},
        {"log", 0, "FILE", "Append one JSON line per decision to FILE."},
        {"learn", 0, "", "Learn mode: let rule refusals through and log them (the SSRF defence still refuses)."},
        {"state-dir", 0, "DIR", "Where the sandbox CA lives (default: STATE/proxy/<project>)."},
        {"upstream-ca", 0, "FILE", "CA bundle to verify intercepted upstreams with (default: the system store)."},
        {"max-connections", 0, "N", "Client connections at once (default 4096)."},
        {"idle-timeout", 0, "SECONDS", "Close a connection idle this long (default 300)."},
        {"handshake-timeout", 0, "SECONDS", "Time for a request head or TLS hello (default 10)."},
        {"transparent", 0, "ADDR:PORT", "Also accept connections an iptables REDIRECT sent here; the host comes from SNI or Host."},
        {"secrets-dir", 0, "DIR", "Read header secrets from DIR/NAME (a mounted Kubernetes Secret) instead of the store."},
        {"ca-bundle-out", 0, "FILE", "With header secrets: write the system roots plus the sandbox CA to FILE (0644)."},
        {"resolve", 0, "NAME=ADDR", "Tests only (needs SBX_PROXY_TEST_RESOLVE=1): resolve NAME to ADDR[,ADDR][|next answer].", true},
    },
    0,
    0,
    false,
    run_proxy,
};

}  // namespace sbx::cli
