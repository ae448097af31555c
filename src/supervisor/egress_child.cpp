#include "supervisor/egress_child.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <poll.h>
#include <sys/resource.h>
#include <thread>

#include "common/log.h"
#include "config/loader.h"
#include "proxy/proxy.h"
#include "secrets/harden.h"
#include "secrets/store.h"
#include "supervisor/fd_passing.h"
#include "supervisor/egress_limits.h"
#include "supervisor/launch.h"
#include "supervisor/state.h"

namespace sbx::supervisor {
namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

bool has_header_secret(const std::vector<config::Secret>& secrets) {
  for (const auto& s : secrets)
    if (s.inject == config::InjectKind::header) return true;
  return false;
}

// No terminal here: a passphrase can never be typed, so say how to avoid needing one.
secrets::PassphraseSource no_passphrase() {
  return [](std::string_view) -> Result<secrets::SecretBuffer> {
    return fail(ErrorCode::permission, "the secret store is passphrase-protected and the egress proxy cannot ask for it",
                "run 'sbx secret passphrase --remove' (key-file mode) so sandboxes can read their header secrets");
  };
}

// Secret values from the host store, opened and unlocked once; each value is copied into locked
// memory for the connection that needs it and wiped after.
proxy::SecretSource store_source(std::shared_ptr<secrets::Store> store) {
  auto mu = std::make_shared<std::mutex>();
  return [mu, store](const std::string& name) -> Result<proxy::LockedBuffer> {
    std::lock_guard l(*mu);
    auto v = store->get(name);
    if (!v) return std::unexpected(v.error());
    proxy::LockedBuffer b(v->size());
    if (!b.valid() || !b.append(v->reveal())) return fail(ErrorCode::runtime, "cannot allocate locked memory");
    return b;
  };
}

// The applied rules, and the pins of the launch.json in force: a hot update rewrites both, so a
// reload takes the pins from launch.json again (it was written before the snapshot).
Result<proxy::Policy> load_policy(const fs::path& dir, const EgressLaunch& e) {
  auto text = SBX_TRY(read_small_file(e.snapshot));
  auto sf = SBX_TRY(config::load_string(text, e.sandboxfile, e.project_dir));
  auto launch_text = SBX_TRY(read_small_file(dir / "launch.json"));
  auto launch = SBX_TRY(launch_from_json(launch_text, (dir / "launch.json").string()));
  return proxy::Policy{sf.egress, sf.secrets, sf.file, launch.egress.pins};
}

void say(int control, const std::string& message) {
  (void)send_with_fd(control, message.substr(0, kMaxControlMessage), -1);
}

}  // namespace

std::uint64_t raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  if (r.rlim_cur < r.rlim_max) {
    rlimit want = r;
    want.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) r = want;
  }
  return r.rlim_cur == RLIM_INFINITY ? (1u << 20) : static_cast<std::uint64_t>(r.rlim_cur);
}

size_t connection_cap(std::uint64_t fd_limit) {
  // Three descriptors per connection on average (a client and an upstream always; a splice
  // pipe pair only on bulk tunnels, and a pipe that cannot be made just stays on the buffer).
  const std::uint64_t reserve = std::min<std::uint64_t>(64, fd_limit / 4);
  const std::uint64_t cap = fd_limit > reserve ? (fd_limit - reserve) / 3 : 1;
  return static_cast<size_t>(std::clamp<std::uint64_t>(cap, 1, 4096));
}

fs::path egress_log_path(const fs::path& dir) { return SandboxPaths{dir}.egress_log(); }

Result<void> check_bound_secrets(const config::Sandboxfile& file) {
  if (file.secrets.empty()) return {};
  if (!secrets::Store::exists()) {
    const auto& first = file.secrets.front();
    return fail(ErrorCode::not_found,
                "secret '" + first.name + "' is bound " +
                    (first.inject == config::InjectKind::header ? "to the wire" : "to the guest's environment") +
                    " but there is no secret store",
                "add it with 'sbx secret set " + first.name + "'", first.location);
  }
  secrets::OpenOptions o;
  o.passphrase = no_passphrase();
  auto store = SBX_TRY(secrets::Store::open(o));
  if (store.wrap_mode() == secrets::WrapMode::passphrase)
    return fail(ErrorCode::permission,
                "the secret store is passphrase-protected: a sandbox reads its secrets in the background (the egress "
                "proxy for header secrets, the supervisor for env secrets) and cannot ask for the passphrase",
                "run 'sbx secret passphrase --remove' to switch the store to key-file mode (wrap.key, 0600)");
  for (const auto& s : file.secrets) {
    auto info = store.info(s.name);
    if (!info) {
      Error e = info.error();
      e.location = s.location;
      if (e.hint.empty()) e.hint = "add it with 'sbx secret set " + s.name + "'";
      return std::unexpected(e);
    }
    if (!info->problem.empty())
      return fail(ErrorCode::invalid, "secret '" + s.name + "' cannot be used: " + info->problem,
                  "set it again with 'sbx secret set " + s.name + "'", s.location);
  }
  return {};
}

int run_egress_process(const fs::path& dir, int control) {
  auto log = sbx::log::get("egress");
  ::signal(SIGPIPE, SIG_IGN);
  auto text = read_small_file(dir / "launch.json");
  auto launch = text ? launch_from_json(*text, (dir / "launch.json").string()) : Result<Launch>(std::unexpected(text.error()));
  if (!launch) {
    log->error("{}", launch.error().message);
    say(control, "failed " + launch.error().message);
    return 1;
  }
  const EgressLaunch egress = launch->egress;
  auto policy = load_policy(dir, egress);
  if (!policy) {
    log->error("{}", policy.error().render());
    say(control, "failed " + policy.error().message);
    return 1;
  }
  proxy::ProxyOptions opt;
  // Guest streams each cost descriptors here: take what the hard limit allows, and refuse
  // connections (503) before the table is full rather than lose descriptors in transit.
  const std::uint64_t fd_limit = raise_fd_limit();
  opt.max_connections = connection_cap(fd_limit);
  opt.egress_log = egress_log_path(dir);
  opt.state_dir = dir;
  // A private CA for the upstreams (tests, corporate TLS inspection); the system store otherwise.
  if (const char* ca = std::getenv("SBX_EGRESS_UPSTREAM_CA"); ca && *ca) opt.upstream_ca_bundle = ca;
  const bool injects = has_header_secret(policy->secrets);
  if (injects) {
    if (auto h = secrets::harden_process(); !h) {
      say(control, "failed " + h.error().message);
      return 1;
    }
    secrets::OpenOptions o;
    o.passphrase = no_passphrase();
    auto store = secrets::Store::open(o);
    auto unlocked = store ? store->unlock() : Result<void>(std::unexpected(store.error()));
    if (!unlocked) {
      log->error("cannot open the secret store: {}", unlocked.error().message);
      say(control, "failed cannot open the secret store: " + unlocked.error().message);
      return 1;
    }
    opt.secrets = store_source(std::make_shared<secrets::Store>(std::move(*store)));
  }
  const size_t max_connections = opt.max_connections;
  auto created = proxy::Proxy::create(std::move(opt), *policy);
  if (!created) {
    log->error("{}", created.error().render());
    say(control, "failed " + created.error().message);
    return 1;
  }
  auto& proxy = **created;
  if (injects) {
    // The guest must trust the CA before its first connection: make it now (STATE/ca.crt).
    if (auto pem = proxy.ca_certificate_pem(); !pem) {
      say(control, "failed " + pem.error().message);
      return 1;
    }
  }
  proxy.watch(egress.snapshot, [dir, egress] { return load_policy(dir, egress); });
  // The policies' ceilings and deny lists, watched like the rules (fingerprint first: a change
  // between this load and the first poll is then seen).
  proxy.watch_limits(limits_fingerprint(dir), [dir] { return load_sandbox_limits(dir); });
  proxy.set_limits(load_sandbox_limits(dir));
  proxy.start();
  log->info("egress proxy ready ({} allow, {} deny rules{}{}; {} connections at once, {} descriptors)",
            policy->egress.allow.size(), policy->egress.deny.size(), injects ? ", header secrets" : "",
            policy->pins.empty() ? "" : ", pins " + proxy::host_pins_text(policy->pins), max_connections, fd_limit);
  say(control, "ready");

  // Streams lost for want of descriptors: logged, at most once a second with a count.
  std::uint64_t lost = 0, lost_logged = 0;
  auto last_lost_log = steady_clock::now() - seconds(2);
  auto report_lost = [&](const char* why) {
    ++lost;
    if (steady_clock::now() - last_lost_log < seconds(1)) return;
    log->warn("{} guest stream(s) closed without service: {} (limit {} descriptors, {} connections)",
              lost - lost_logged, why, fd_limit, max_connections);
    lost_logged = lost;
    last_lost_log = steady_clock::now();
  };
  for (;;) {
    pollfd p{control, POLLIN, 0};
    if (::poll(&p, 1, -1) < 0) continue;
    if (p.revents & POLLNVAL) break;
    Packet packet;
    const IoStatus st = receive_with_fd(control, packet);
    if (st == IoStatus::again) continue;
    if (st == IoStatus::closed) break;  // EOF or reset: the supervisor is gone
    if (st == IoStatus::error) {
      // A malformed packet is dropped; only a hangup ends the proxy.
      if (p.revents & (POLLHUP | POLLERR)) break;
      report_lost("a malformed control packet");
      continue;
    }
    if (packet.fd_lost) {
      // The kernel closed the descriptor in transit, so the supervisor's end sees EOF.
      report_lost("this process's descriptor table is full");
      continue;
    }
    if (packet.fd) {
      proxy.adopt_client(packet.fd.release());
      continue;
    }
    if (packet.message == "reload") {
      // Load it here first: a broken file keeps the old rules, and the reason goes back.
      auto next = load_policy(dir, egress);
      if (!next) {
        say(control, "reload-failed " + next.error().message);
        continue;
      }
      const auto before = proxy.stats();
      proxy.reload_now();
      const auto deadline = steady_clock::now() + seconds(5);
      bool done = false;
      while (!done && steady_clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(5));
        const auto now = proxy.stats();
        if (now.reload_failures > before.reload_failures) {
          say(control, "reload-failed the new [egress] rules do not compile (see the supervisor log)");
          done = true;
        } else if (now.reloads > before.reloads) {
          say(control, "reloaded");
          done = true;
        }
      }
      if (!done) say(control, "reload-failed the egress proxy did not reload within 5 s");
    }
  }
  log->info("the supervisor is gone; stopping the egress proxy");
  proxy.stop();
  return 0;
}

}  // namespace sbx::supervisor
