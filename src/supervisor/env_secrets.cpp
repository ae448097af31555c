#include "supervisor/env_secrets.h"

#include <sodium.h>

#include "common/escape.h"
#include "secrets/store.h"

namespace sbx::supervisor {
namespace proto = sbx::guest::protocol;

void wipe(std::string& bytes) {
  if (!bytes.empty()) sodium_memzero(bytes.data(), bytes.size());
}

namespace {

// The supervisor runs in the background: a passphrase can never be typed.
secrets::PassphraseSource no_passphrase() {
  return [](std::string_view) -> Result<secrets::SecretBuffer> {
    return fail(ErrorCode::permission, "the secret store is passphrase-protected and the sandbox cannot ask for it",
                "run 'sbx secret passphrase --remove' (key-file mode)");
  };
}

std::string not_given(const EnvSecret& b, const std::string& why) {
  return "secret '" + b.secret + "' is not in the guest's environment as " + b.env + ": " + why;
}

void wipe_values(proto::Config& config, const std::vector<EnvSecret>& bindings) {
  for (const auto& b : bindings)
    if (auto it = config.env.find(b.env); it != config.env.end()) {
      wipe(it->second);
      config.env.erase(it);
    }
}

}  // namespace

proto::Frame config_with_env_secrets(proto::Config config, const std::vector<EnvSecret>& bindings,
                                     std::vector<std::string>& problems) {
  if (bindings.empty()) return proto::config_frame(config);
  secrets::OpenOptions o;
  o.passphrase = no_passphrase();
  auto store = secrets::Store::exists() ? secrets::Store::open(o)
                                        : Result<secrets::Store>(fail(ErrorCode::not_found, "there is no secret store"));
  auto unlocked = store ? store->unlock() : Result<void>(std::unexpected(store.error()));
  for (const auto& b : bindings) {
    if (!unlocked) {
      problems.push_back(not_given(b, unlocked.error().message));
      continue;
    }
    auto value = store->get(b.secret);
    if (!value) {
      problems.push_back(not_given(b, value.error().message));
      continue;
    }
    const std::string_view v = value->reveal();
    if (v.size() > kMaxEnvSecretValue)
      problems.push_back(not_given(b, "its value is longer than " + std::to_string(kMaxEnvSecretValue) + " bytes"));
    else if (v.find('\0') != std::string_view::npos)
      problems.push_back(not_given(b, "its value holds a NUL byte, which an environment variable cannot"));
    else if (!text::valid_utf8(v))
      problems.push_back(not_given(b, "its value is not UTF-8 text"));
    else
      config.env[b.env] = std::string(v);
  }
  proto::Frame frame = proto::config_frame(config);
  if (frame.payload.size() > proto::kMaxPayload) {
    wipe(frame.payload);
    for (const auto& b : bindings)
      if (config.env.count(b.env)) problems.push_back(not_given(b, "the guest's CONFIG would exceed 64 KiB"));
    wipe_values(config, bindings);
    frame = proto::config_frame(config);
  }
  wipe_values(config, bindings);
  return frame;
}

}  // namespace sbx::supervisor
