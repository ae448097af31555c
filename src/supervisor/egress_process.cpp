#include "supervisor/egress_process.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <poll.h>
#include <thread>

#include "common/log.h"
#include "config/loader.h"
#include "proxy/proxy.h"
#include "secrets/harden.h"
#include "secrets/store.h"
#include "supervisor/fd_passing.h"
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

Result<proxy::Policy> load_policy(const EgressLaunch& e) {
  auto text = SBX_TRY(read_small_file(e.snapshot));
  auto sf = SBX_TRY(config::load_string(text, e.sandboxfile, e.project_dir));
  return proxy::Policy{sf.egress, sf.secrets, sf.file};
}

void say(int control, const std::string& message) {
  (void)send_with_fd(control, message.substr(0, kMaxControlMessage), -1);
}

}  // namespace

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
  auto policy = load_policy(egress);
  if (!policy) {
    log->error("{}", policy.error().render());
    say(control, "failed " + policy.error().message);
    return 1;
  }
  proxy::ProxyOptions opt;
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
  proxy.watch(egress.snapshot, [egress] { return load_policy(egress); });
  proxy.start();
  log->info("egress proxy ready ({} allow, {} deny rules{})", policy->egress.allow.size(), policy->egress.deny.size(),
            injects ? ", header secrets" : "");
  say(control, "ready");

  for (;;) {
    pollfd p{control, POLLIN, 0};
    if (::poll(&p, 1, -1) < 0) continue;
    Packet packet;
    const IoStatus st = receive_with_fd(control, packet);
    if (st == IoStatus::again) continue;
    if (st != IoStatus::ok) break;  // the supervisor is gone
    if (packet.fd) {
      proxy.adopt_client(packet.fd.release());
      continue;
    }
    if (packet.message == "reload") {
      // Load it here first: a broken file keeps the old rules, and the reason goes back.
      auto next = load_policy(egress);
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
